//! Runs the local fakes by hand (work in progress).
fn main() {}
