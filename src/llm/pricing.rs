//! Price table: US dollars per million tokens for each model, extensible
//! from config, and the cost estimate of a [`Usage`].

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

/// Model id (or id prefix) → price.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    entries: BTreeMap<String, Price>,
}

impl PriceTable {
    pub fn with_overrides(overrides: &BTreeMap<String, Price>) -> Self {
        let mut table = PriceTable::default();
        for (k, v) in overrides {
            table.entries.insert(k.clone(), *v);
        }
        table
    }

    /// Estimated cost in dollars, `None` when the model has no price.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        let price = self.entries.get(model)?;
        Some(
            (usage.input_tokens as f64 * price.input
                + usage.output_tokens as f64 * price.output
                + usage.cache_read_tokens as f64 * price.cache_read.unwrap_or(price.input)
                + usage.cache_write_tokens as f64 * price.cache_write.unwrap_or(price.input))
                / 1_000_000.0,
        )
    }
}
