//! Price table: US dollars per million tokens for each model, extensible
//! from config, and the cost estimate of a [`Usage`].
//!
//! Entries are model id *prefixes*; the longest prefix of a model id wins,
//! so dated ids (`claude-sonnet-4-20250514`) and variants
//! (`gpt-4.1-mini-2025-04-14`) find their family. Overrides from config are
//! searched first, then the built-in table. Ids with a vendor prefix
//! (`openai/gpt-4.1` on GitHub Models or OpenRouter) are also tried without it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Usage;

/// Dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cache_read: Option<f64>,
    #[serde(default)]
    pub cache_write: Option<f64>,
}

const fn price(input: f64, output: f64, cache_read: f64, cache_write: f64) -> Price {
    Price {
        input,
        output,
        cache_read: Some(cache_read),
        cache_write: Some(cache_write),
    }
}

/// Published list prices (late 2025): input, output, cache read, cache write.
/// OpenAI reports no cache writes; its write price is the input price.
const BUILT_IN: &[(&str, Price)] = &[
    // Anthropic
    ("claude-opus-4-5", price(5.0, 25.0, 0.50, 6.25)),
    ("claude-opus-4", price(15.0, 75.0, 1.50, 18.75)),
    ("claude-sonnet-4", price(3.0, 15.0, 0.30, 3.75)),
    ("claude-3-7-sonnet", price(3.0, 15.0, 0.30, 3.75)),
    ("claude-3-5-sonnet", price(3.0, 15.0, 0.30, 3.75)),
    ("claude-haiku-4", price(1.0, 5.0, 0.10, 1.25)),
    ("claude-3-5-haiku", price(0.80, 4.0, 0.08, 1.0)),
    ("claude-3-haiku", price(0.25, 1.25, 0.03, 0.30)),
    // OpenAI
    ("gpt-4o", price(2.50, 10.0, 1.25, 2.50)),
    ("gpt-4o-mini", price(0.15, 0.60, 0.075, 0.15)),
    ("gpt-4.1", price(2.0, 8.0, 0.50, 2.0)),
    ("gpt-4.1-mini", price(0.40, 1.60, 0.10, 0.40)),
    ("gpt-4.1-nano", price(0.10, 0.40, 0.025, 0.10)),
    ("o3", price(2.0, 8.0, 0.50, 2.0)),
    ("o3-mini", price(1.10, 4.40, 0.55, 1.10)),
    ("o4-mini", price(1.10, 4.40, 0.275, 1.10)),
    ("gpt-5", price(1.25, 10.0, 0.125, 1.25)),
    ("gpt-5-mini", price(0.25, 2.0, 0.025, 0.25)),
    ("gpt-5-nano", price(0.05, 0.40, 0.005, 0.05)),
];

/// Model id (or id prefix) → price.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    overrides: BTreeMap<String, Price>,
    built_in: BTreeMap<String, Price>,
}

impl Default for PriceTable {
    /// The built-in prices, no overrides.
    fn default() -> Self {
        PriceTable {
            overrides: BTreeMap::new(),
            built_in: BUILT_IN
                .iter()
                .map(|(id, p)| ((*id).to_string(), *p))
                .collect(),
        }
    }
}

impl PriceTable {
    /// The built-in table with config entries taking precedence.
    pub fn with_overrides(overrides: &BTreeMap<String, Price>) -> Self {
        PriceTable {
            overrides: overrides.clone(),
            ..PriceTable::default()
        }
    }

    /// The price of `model`: longest matching prefix, overrides first.
    pub fn price(&self, model: &str) -> Option<Price> {
        let bare = model.rsplit_once('/').map(|(_, id)| id);
        [&self.overrides, &self.built_in]
            .into_iter()
            .find_map(|table| {
                std::iter::once(model)
                    .chain(bare)
                    .find_map(|id| longest_prefix(table, id))
            })
    }

    /// Estimated cost in dollars, `None` when the model has no price.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        let price = self.price(model)?;
        Some(
            (usage.input_tokens as f64 * price.input
                + usage.output_tokens as f64 * price.output
                + usage.cache_read_tokens as f64 * price.cache_read.unwrap_or(price.input)
                + usage.cache_write_tokens as f64 * price.cache_write.unwrap_or(price.input))
                / 1_000_000.0,
        )
    }
}

fn longest_prefix(table: &BTreeMap<String, Price>, id: &str) -> Option<Price> {
    table
        .iter()
        .filter(|(prefix, _)| id.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, read: u64, write: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: read,
            cache_write_tokens: write,
        }
    }

    #[test]
    fn dated_and_variant_ids_find_the_longest_prefix() {
        let t = PriceTable::default();
        assert_eq!(t.price("claude-sonnet-4-20250514").unwrap().input, 3.0);
        assert_eq!(t.price("claude-opus-4-5-20251101").unwrap().input, 5.0);
        assert_eq!(t.price("claude-opus-4-1-20250805").unwrap().input, 15.0);
        assert_eq!(t.price("gpt-4o-mini-2024-07-18").unwrap().input, 0.15);
        assert_eq!(t.price("gpt-4o-2024-08-06").unwrap().input, 2.50);
        assert_eq!(t.price("o3-mini").unwrap().input, 1.10);
        assert_eq!(t.price("openai/gpt-4.1-nano").unwrap().input, 0.10);
        assert_eq!(t.price("llama3.1:8b"), None);
    }

    #[test]
    fn cost_counts_each_kind_of_token() {
        let t = PriceTable::default();
        let cost = t
            .cost(
                "claude-sonnet-4-5",
                &usage(1_000_000, 100_000, 2_000_000, 10_000),
            )
            .unwrap();
        let expected = 3.0 + 1.5 + 0.6 + 0.0375;
        assert!((cost - expected).abs() < 1e-9, "{cost}");
        assert_eq!(t.cost("my-local-model", &usage(1, 1, 0, 0)), None);
    }

    #[test]
    fn overrides_take_precedence_even_when_shorter() {
        let overrides = BTreeMap::from([
            (
                "claude".to_string(),
                Price {
                    input: 1.0,
                    output: 2.0,
                    cache_read: None,
                    cache_write: None,
                },
            ),
            (
                "my-local".to_string(),
                Price {
                    input: 0.0,
                    output: 0.0,
                    cache_read: None,
                    cache_write: None,
                },
            ),
        ]);
        let t = PriceTable::with_overrides(&overrides);
        let cost = t
            .cost("claude-sonnet-4", &usage(1_000_000, 0, 1_000_000, 0))
            .unwrap();
        assert!((cost - 2.0).abs() < 1e-9, "{cost}");
        assert_eq!(t.cost("my-local-model", &usage(10, 10, 0, 0)), Some(0.0));
        assert_eq!(t.price("gpt-4.1").unwrap().input, 2.0);
    }
}
