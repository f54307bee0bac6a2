//! Stable hashes: ids that every process, build and platform computes alike for the
//! same bytes (std's hasher promises none of that), for selector ids, snapshot ids and
//! static-file fingerprints.

/// The 64-bit FNV-1a hash of `bytes`.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// [`fnv1a`] of `bytes`, as 16 hex digits.
pub fn fnv1a_hex(bytes: impl IntoIterator<Item = u8>) -> String {
    format!("{:016x}", fnv1a(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(fnv1a([]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_hex(*b"a"), "af63dc4c8601ec8c");
    }
}
