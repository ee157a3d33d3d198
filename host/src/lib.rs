//! MagFlock host.
