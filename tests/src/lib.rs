//! End-to-end tests and local fakes (work in progress).
