//! BM25 ranking in process: tokenizing, a light stemmer, and Okapi BM25 scores of short documents against a query.

use std::collections::HashMap;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Words too common to say anything about relevance (sorted: looked up by binary search).
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "always", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "being", "both", "but", "by", "can", "could", "did", "do", "does", "each",
    "every", "few", "for", "from", "get", "had", "has", "have", "how", "i", "if", "in", "instead",
    "into", "is", "it", "its", "just", "like", "make", "may", "might", "more", "most", "must",
    "my", "need", "needs", "never", "new", "no", "not", "of", "on", "once", "one", "only", "or",
    "other", "our", "out", "over", "own", "possible", "same", "should", "so", "some", "such",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "through", "to", "too", "up", "us", "use", "very", "via", "was", "we", "were", "what", "when",
    "where", "which", "while", "who", "why", "will", "with", "would", "you", "your",
];

/// Lower-case word stems of `text`, stopwords dropped.
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 1)
        .map(str::to_lowercase)
        .filter(|w| STOPWORDS.binary_search(&w.as_str()).is_err())
        .map(|w| stem(&w))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Strips common English suffixes so "logging", "logs" and "logged" meet.
fn stem(word: &str) -> String {
    if word.len() <= 3 || word.chars().any(|c| c.is_ascii_digit()) {
        return word.to_string();
    }
    for (suffix, keep) in [
        ("ations", "ate"),
        ("ation", "ate"),
        ("izing", "ize"),
        ("ies", "y"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
        ("ly", ""),
    ] {
        if let Some(base) = word.strip_suffix(suffix) {
            if base.len() >= 3 && !(suffix == "s" && base.ends_with('s')) {
                let mut out = format!("{base}{keep}");
                // "logging" → "logg" → "log"
                let bytes = out.as_bytes();
                if keep.is_empty()
                    && bytes.len() >= 2
                    && bytes[bytes.len() - 1] == bytes[bytes.len() - 2]
                    && !matches!(bytes[bytes.len() - 1], b'l' | b's' | b'z')
                {
                    out.pop();
                }
                return out;
            }
        }
    }
    word.to_string()
}

/// BM25 score of every document (already tokenized: its terms, owned or
/// borrowed) against `query`, in document order. Only the query's terms
/// are counted, so nothing is allocated per document term.
pub fn scores<I, D, T>(docs: I, query: &[String]) -> Vec<f64>
where
    I: IntoIterator<Item = D>,
    D: IntoIterator<Item = T>,
    T: AsRef<str>,
{
    let mut terms: Vec<&str> = query.iter().map(String::as_str).collect();
    terms.sort_unstable();
    terms.dedup();
    let slot: HashMap<&str, usize> = terms.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    // Per document: its length and the count of each query term.
    let mut counts: Vec<(usize, Vec<u32>)> = Vec::new();
    let mut df = vec![0u32; terms.len()];
    for doc in docs {
        let mut tf = vec![0u32; terms.len()];
        let mut len = 0;
        for t in doc {
            len += 1;
            if let Some(&i) = slot.get(t.as_ref()) {
                tf[i] += 1;
            }
        }
        for (d, f) in df.iter_mut().zip(&tf) {
            *d += u32::from(*f > 0);
        }
        counts.push((len, tf));
    }
    let n = counts.len() as f64;
    let avg_len = if counts.is_empty() {
        1.0
    } else {
        (counts.iter().map(|(len, _)| *len).sum::<usize>() as f64 / n).max(1.0)
    };
    let idf: Vec<f64> = df
        .iter()
        .map(|&d| ((n - f64::from(d) + 0.5) / (f64::from(d) + 0.5) + 1.0).ln())
        .collect();
    counts
        .iter()
        .map(|(len, tf)| {
            let norm = 1.0 - B + B * (*len as f64) / avg_len;
            tf.iter()
                .zip(&idf)
                .filter(|(f, _)| **f > 0)
                .map(|(f, idf)| {
                    let f = f64::from(*f);
                    idf * f * (K1 + 1.0) / (f + K1 * norm)
                })
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_sorted() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn stems_meet() {
        assert_eq!(tokens("Logging logs logged"), vec!["log", "log", "log"]);
        assert_eq!(tokens("The errors, an Error!"), vec!["error", "error"]);
        assert_eq!(tokens("queries query"), vec!["query", "query"]);
    }

    #[test]
    fn the_matching_document_ranks_first() {
        let docs = [
            "Return errors as { error, code } JSON objects.",
            "Name boolean variables with is or has prefixes.",
            "Log one line per request with its duration.",
        ];
        let scores = scores(
            docs.iter().map(|d| tokens(d)),
            &tokens("the API returns an error code when login fails"),
        );
        assert!(scores[0] > 0.0);
        assert_eq!(scores[1], 0.0);
        assert_eq!(scores[2], 0.0);
    }
}
