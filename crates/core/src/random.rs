//! Cryptographically secure random bytes for ids, secrets and API keys.

/// Fills `buf` from the operating system's CSPRNG.
///
/// The OS generator failing is not a condition hookd can serve requests in
/// (no secret or id could be made safely), so it aborts loudly.
pub fn fill(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// `n` random bytes.
pub fn bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    fill(&mut v);
    v
}
