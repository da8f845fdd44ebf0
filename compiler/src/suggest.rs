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

/// Edit distance where swapping two neighbouring letters is one edit (optimal string
/// alignment), so `haeds` is close to `heads`.
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = best;
        }
    }
    d[a.len() * w + b.len()]
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
        assert_eq!(
            did_you_mean("haeds", ["heads", "hidden"]),
            Some("heads".into())
        );
        assert_eq!(did_you_mean("widht", ["width"]), Some("width".into()));
        assert_eq!(did_you_mean(&"a".repeat(100), ["a"]), None);
    }
}
