//! MagFlock package format.
