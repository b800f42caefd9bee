//! Graph passes. Placeholder filled in below.
