//! Merging the two catalogs (upstream.md §6) into one list of models, and picking the default.
//!
//! - The account's live `/codex/models` is authoritative for what this account may use: when
//!   it is loaded, only its entries are offered.
//! - The release's `models.json` (GitHub, at the latest tag) works signed out and carries base
//!   instructions for every current model; it fills what a live entry lacks, and stands in for
//!   the live catalog until that one loads (filtered by the compatibility version, as the
//!   backend filters its own).
//! - No model is hard-coded: the default is `backend.model` when set, else the offered,
//!   listed model with the lowest `priority`.

use std::collections::HashSet;

use codexd_proto::instructions::ModelInfo;

use super::catalog::CatalogModel;

/// The merged view.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// Every known model, by priority then slug; `offered` says which this account may use.
    pub models: Vec<MergedModel>,
}

/// One model of the merged view.
#[derive(Debug, Clone)]
pub struct MergedModel {
    /// The facts (live first, gaps filled from the release file).
    pub model: CatalogModel,
    /// Offered to this account (live catalog lists it; or, before that loads, the release
    /// file lists it as visible at our compatibility version).
    pub offered: bool,
}

impl Merged {
    /// Merge `live` (the account's catalog, if loaded) with `file` (the release's).
    pub fn new(live: Option<&[CatalogModel]>, file: Option<&[CatalogModel]>, client: &str) -> Self {
        let find = |list: Option<&[CatalogModel]>, slug: &str| {
            list.and_then(|l| l.iter().find(|m| m.info.slug == slug))
                .cloned()
        };
        let mut seen = HashSet::new();
        let mut models = Vec::new();
        for m in live.unwrap_or_default() {
            if !seen.insert(m.info.slug.clone()) {
                continue;
            }
            let mut merged = m.clone();
            if let Some(f) = find(file, &m.info.slug) {
                fill(&mut merged, &f);
            }
            models.push(MergedModel {
                offered: merged.info.visible,
                model: merged,
            });
        }
        for f in file.unwrap_or_default() {
            if !seen.insert(f.info.slug.clone()) {
                continue;
            }
            models.push(MergedModel {
                offered: live.is_none() && f.info.visible && f.info.usable_at(client),
                model: f.clone(),
            });
        }
        models.sort_by(|a, b| {
            let key = |m: &MergedModel| {
                (
                    m.model.info.priority.unwrap_or(i64::MAX),
                    m.model.info.slug.clone(),
                )
            };
            key(a).cmp(&key(b))
        });
        Self { models }
    }

    /// The entry for `slug`, offered or not.
    pub fn get(&self, slug: &str) -> Option<&MergedModel> {
        self.models.iter().find(|m| m.model.info.slug == slug)
    }

    /// The default model: the offered, listed model with the lowest priority.
    pub fn default_slug(&self) -> Option<&str> {
        self.models
            .iter()
            .find(|m| m.offered)
            .map(|m| m.model.info.slug.as_str())
    }

    /// The slugs offered to this account, by priority.
    pub fn offered(&self) -> Vec<&str> {
        self.models
            .iter()
            .filter(|m| m.offered)
            .map(|m| m.model.info.slug.as_str())
            .collect()
    }

    /// Whether either catalog is loaded at all.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

/// Fill what a live entry lacks from the release file's entry for the same slug.
fn fill(live: &mut CatalogModel, file: &CatalogModel) {
    let (l, f): (&mut ModelInfo, &ModelInfo) = (&mut live.info, &file.info);
    if live.base_instructions.is_none() {
        live.base_instructions = file.base_instructions.clone();
        l.has_base_instructions = live.base_instructions.is_some();
    }
    if l.supported_efforts.is_empty() {
        l.supported_efforts = f.supported_efforts.clone();
    }
    l.default_effort = l.default_effort.take().or_else(|| f.default_effort.clone());
    l.display_name = l.display_name.take().or_else(|| f.display_name.clone());
    l.description = l.description.take().or_else(|| f.description.clone());
    l.context_window = l.context_window.or(f.context_window);
    l.default_verbosity = l.default_verbosity.or(f.default_verbosity);
    l.default_summary = l
        .default_summary
        .take()
        .or_else(|| f.default_summary.clone());
    l.minimal_client_version = l
        .minimal_client_version
        .take()
        .or_else(|| f.minimal_client_version.clone());
    l.priority = l.priority.or(f.priority);
}

#[cfg(test)]
mod tests {
    use super::*;
    use codexd_proto::instructions::ModelSource;
    use std::sync::Arc;

    fn model(
        slug: &str,
        priority: i64,
        visible: bool,
        min: Option<&str>,
        base: Option<&str>,
    ) -> CatalogModel {
        CatalogModel {
            info: ModelInfo {
                slug: slug.into(),
                display_name: None,
                default_effort: None,
                supported_efforts: Vec::new(),
                context_window: None,
                has_base_instructions: base.is_some(),
                description: None,
                lite: true,
                minimal_client_version: min.map(str::to_owned),
                visible,
                priority: Some(priority),
                supports_verbosity: true,
                default_verbosity: None,
                default_summary: None,
                source: ModelSource::Live,
            },
            base_instructions: base.map(Arc::from),
        }
    }

    #[test]
    fn file_alone_is_filtered_by_version_and_visibility() {
        let file = vec![
            model("new", 1, true, Some("9.0.0"), Some("a")),
            model("hidden", 2, false, None, Some("b")),
            model("ok", 3, true, Some("0.142.2"), Some("c")),
        ];
        let m = Merged::new(None, Some(&file), "0.171.0");
        assert_eq!(m.offered(), vec!["ok"]);
        assert_eq!(m.default_slug(), Some("ok"));
        assert!(m.get("new").is_some_and(|e| !e.offered));
    }

    #[test]
    fn live_is_authoritative_and_file_fills_gaps() {
        let live = vec![
            model("b", 5, true, None, None),
            model("a", 2, true, None, None),
        ];
        let file = vec![
            model("a", 2, true, None, Some("instructions of a")),
            model("c", 1, true, None, Some("c")),
        ];
        let m = Merged::new(Some(&live), Some(&file), "0.171.0");
        assert_eq!(
            m.offered(),
            vec!["a", "b"],
            "c is not offered to this account"
        );
        assert_eq!(m.default_slug(), Some("a"));
        let a = m.get("a").map(|e| e.model.clone());
        assert_eq!(
            a.and_then(|a| a.base_instructions).as_deref(),
            Some("instructions of a")
        );
        assert!(Merged::new(None, None, "0.171.0").is_empty());
    }
}
