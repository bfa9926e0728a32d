//! BM25 ranking in process: tokenizing, a light stemmer, and Okapi BM25 scores of short documents against a query.

use std::collections::HashMap;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Words too common to say anything about relevance.
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
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
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

/// An index of documents (already tokenized) for BM25 queries.
#[derive(Debug, Default)]
pub struct Index {
    docs: Vec<HashMap<String, u32>>,
    lengths: Vec<usize>,
    df: HashMap<String, u32>,
    avg_len: f64,
}

impl Index {
    pub fn new<I>(docs: I) -> Index
    where
        I: IntoIterator<Item = Vec<String>>,
    {
        let mut index = Index::default();
        for doc in docs {
            let mut tf: HashMap<String, u32> = HashMap::new();
            for t in &doc {
                *tf.entry(t.clone()).or_default() += 1;
            }
            for t in tf.keys() {
                *index.df.entry(t.clone()).or_default() += 1;
            }
            index.lengths.push(doc.len());
            index.docs.push(tf);
        }
        let total: usize = index.lengths.iter().sum();
        index.avg_len = if index.docs.is_empty() {
            0.0
        } else {
            total as f64 / index.docs.len() as f64
        };
        index
    }

    /// BM25 score of every document against `query` (tokenized), in document order.
    pub fn scores(&self, query: &[String]) -> Vec<f64> {
        let n = self.docs.len() as f64;
        let mut terms: Vec<&String> = query.iter().collect();
        terms.sort();
        terms.dedup();
        let idf: Vec<(&String, f64)> = terms
            .into_iter()
            .filter_map(|t| {
                let df = f64::from(*self.df.get(t)?);
                Some((t, ((n - df + 0.5) / (df + 0.5) + 1.0).ln()))
            })
            .collect();
        self.docs
            .iter()
            .zip(&self.lengths)
            .map(|(tf, len)| {
                idf.iter()
                    .map(|(t, idf)| {
                        let f = f64::from(tf.get(*t).copied().unwrap_or(0));
                        if f == 0.0 {
                            return 0.0;
                        }
                        let norm = 1.0 - B + B * (*len as f64) / self.avg_len.max(1.0);
                        idf * f * (K1 + 1.0) / (f + K1 * norm)
                    })
                    .sum()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let index = Index::new(docs.iter().map(|d| tokens(d)));
        let scores = index.scores(&tokens("the API returns an error code when login fails"));
        assert!(scores[0] > 0.0);
        assert_eq!(scores[1], 0.0);
        assert_eq!(scores[2], 0.0);
    }
}
