//! paidan-model
