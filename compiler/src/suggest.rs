//! Did-you-mean: the one place that decides whether a name is close enough to suggest.

/// A candidate is suggested when its edit distance is at most this fraction of the
/// longer name's length (and at least 1 edit is always allowed for short names).
pub const SIMILARITY_THRESHOLD: f64 = 0.34;
/// Names longer than this are never compared (a 1 MB identifier must not cost O(n²)).
const MAX_COMPARED_LEN: usize = 64;

/// The closest candidate to `name`, if one is close enough.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    if name.len() > MAX_COMPARED_LEN {
        return None;
    }
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        if cand.len() > MAX_COMPARED_LEN || cand == name {
            continue;
        }
        let d = levenshtein(name, cand);
        let longest = name.chars().count().max(cand.chars().count());
        let allowed = ((longest as f64) * SIMILARITY_THRESHOLD).floor().max(1.0) as usize;
        if d <= allowed && best.is_none_or(|(bd, bc)| d < bd || (d == bd && cand < bc)) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c.to_string())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("hiden", ["hidden", "heads"]),
            Some("hidden".into())
        );
        assert_eq!(did_you_mean("lm", ["image", "text"]), None);
        assert_eq!(did_you_mean("trnk", ["trunk"]), Some("trunk".into()));
        assert_eq!(did_you_mean(&"a".repeat(100), ["a"]), None);
    }
}
