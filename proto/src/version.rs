//! Dotted version numbers (`0.171.0`) as the backend compares them: the compatibility level
//! codexd claims and the catalog's `minimal_client_version`.

/// The numeric parts of `v` (`rust-v0.171.0` and `0.171.0-alpha.2` give `[0, 171, 0]`).
/// `None` when there is no leading number at all.
pub fn parts(v: &str) -> Option<Vec<u64>> {
    let start = v.find(|c: char| c.is_ascii_digit())?;
    let core = v[start..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap_or("");
    let parts: Vec<u64> = core
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().unwrap_or(u64::MAX))
        .collect();
    (!parts.is_empty()).then_some(parts)
}

/// `0.171.0` from a release tag such as `rust-v0.171.0` (`None` for a tag without a version).
pub fn from_tag(tag: &str) -> Option<String> {
    let p = parts(tag)?;
    Some(p.iter().map(u64::to_string).collect::<Vec<_>>().join("."))
}

/// Whether `have >= want`, missing parts counting as 0. An unparseable `want` is treated as
/// met (the backend decides), an unparseable `have` as not.
pub fn at_least(have: &str, want: &str) -> bool {
    let Some(want) = parts(want) else {
        return true;
    };
    let Some(have) = parts(have) else {
        return false;
    };
    let n = have.len().max(want.len());
    let get = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    for i in 0..n {
        match get(&have, i).cmp(&get(&want, i)) {
            std::cmp::Ordering::Greater => return true,
            std::cmp::Ordering::Less => return false,
            std::cmp::Ordering::Equal => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_comparisons() {
        assert_eq!(from_tag("rust-v0.171.0").as_deref(), Some("0.171.0"));
        assert_eq!(from_tag("v1.2").as_deref(), Some("1.2"));
        assert_eq!(from_tag("latest"), None);
        assert!(at_least("0.171.0", "0.142.2"));
        assert!(at_least("0.142.2", "0.142.2"));
        assert!(!at_least("0.124.9", "0.142.2"));
        assert!(!at_least("0.1.0", "0.124.0"));
        assert!(at_least("1.0", "0.999.999"));
        assert!(at_least("0.171.0", "0.171"));
        assert!(at_least("0.171.0", "garbage"));
        assert!(!at_least("garbage", "0.1.0"));
    }
}
