//! paidan-core
