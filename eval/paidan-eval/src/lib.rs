//! paidan-eval
