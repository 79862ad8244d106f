//! paidan-text
