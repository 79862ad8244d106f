//! paidan-forward
