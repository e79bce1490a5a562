//! `codexctl instructions` (which base instructions a model gets, from where, how fresh) and
//! `codexctl models` (the model catalog for the signed-in plan).

use codexd_proto::instructions::{
    InstructionSource, InstructionsInfo, InstructionsRequest, ModelCatalog,
};
use codexd_proto::{Reply, Request};

use super::Ctx;
use crate::client::unexpected;
use crate::render;
use clap::Args;

/// `instructions`
#[derive(Args, Debug)]
pub struct InstructionsArgs {
    /// Model (default: the configured one).
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Print the text itself.
    #[arg(long)]
    pub show: bool,
    /// Revalidate with GitHub now.
    #[arg(long)]
    pub refresh: bool,
}

/// `models`
#[derive(Args, Debug)]
pub struct ModelsArgs {
    /// Revalidate the catalogs now.
    #[arg(long)]
    pub refresh: bool,
    /// Also show hidden models and models your account is not offered.
    #[arg(long)]
    pub all: bool,
}

/// Run `instructions`.
pub fn run(args: InstructionsArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let mut client = ctx.connect()?;
    let info = match client.call_simple(Request::Instructions(InstructionsRequest {
        model: args.model,
        show: args.show,
        refresh: args.refresh,
    }))? {
        Reply::Instructions(info) => info,
        other => return Err(unexpected(other)),
    };
    if ctx.json {
        render::json(&info)?;
    } else if args.show {
        // The text alone, so it can be piped or redirected; the summary goes to stderr.
        eprint!("{}", describe(&info));
        print!("{}", info.text.as_deref().unwrap_or_default());
    } else {
        print!("{}", describe(&info));
    }
    Ok(crate::exit::OK)
}

/// The human rendering of one model's instructions.
pub fn describe(i: &InstructionsInfo) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let w = &mut out;
    let default = if i.default_model { " (default)" } else { "" };
    let _ = writeln!(w, "model:        {}{default}", i.model);
    let _ = writeln!(w, "family:       {} ({})", i.family, i.file);
    let _ = writeln!(
        w,
        "source:       {}",
        source_text(&i.source, i.tag.as_deref())
    );
    if let Some(tag) = &i.tag {
        let _ = writeln!(w, "tag:          {tag}");
    }
    if let Some(etag) = &i.etag {
        let _ = writeln!(w, "etag:         {etag}");
    }
    if let Some(t) = i.fetched_at {
        let _ = writeln!(
            w,
            "fetched:      {} ago",
            render::duration(render::now().saturating_sub(t))
        );
    }
    if let Some(t) = i.last_checked {
        let _ = writeln!(
            w,
            "last checked: {} ago",
            render::duration(render::now().saturating_sub(t))
        );
    }
    let _ = writeln!(w, "sha256:       {}", i.sha256);
    let _ = writeln!(w, "size:         {}", render::bytes(i.bytes));
    let _ = writeln!(
        w,
        "compat:       {} ({})",
        i.client_version.version, i.client_version.source
    );
    if let Some(note) = &i.note {
        let _ = writeln!(w, "note:         {note}");
    }
    out
}

/// Run `models`.
pub fn models(args: ModelsArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let mut client = ctx.connect()?;
    let catalog = match client.call_simple(Request::Models {
        refresh: args.refresh,
    })? {
        Reply::Models(c) => c,
        other => return Err(unexpected(other)),
    };
    if ctx.json {
        render::json(&catalog)?;
    } else {
        print!("{}", models_text(&catalog, args.all));
    }
    Ok(crate::exit::OK)
}

/// The human rendering of the catalog: offered models by priority (all with `all`), the
/// default marked with `*`.
pub fn models_text(c: &ModelCatalog, all: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let w = &mut out;
    let shown: Vec<_> = c.models.iter().filter(|m| all || m.visible).collect();
    let width = shown.iter().map(|m| m.slug.len()).max().unwrap_or(0);
    for m in &shown {
        let mark = if c.default_model.as_deref() == Some(m.slug.as_str()) {
            '*'
        } else {
            ' '
        };
        let _ = write!(w, "{mark} {:width$}", m.slug);
        let efforts: Vec<String> = m
            .supported_efforts
            .iter()
            .map(|e| {
                if m.default_effort.as_ref() == Some(e) {
                    format!("[{e}]")
                } else {
                    e.to_string()
                }
            })
            .collect();
        if !efforts.is_empty() {
            let _ = write!(w, "  effort: {}", efforts.join(" "));
        }
        if let Some(cw) = m.context_window {
            let _ = write!(w, "  context: {}k", cw / 1000);
        }
        if all && !m.visible {
            let _ = write!(w, "  (not offered)");
        }
        if let Some(name) = m.display_name.as_deref().filter(|n| *n != m.slug) {
            let _ = write!(w, "  {name}");
        }
        let _ = writeln!(w);
    }
    let hidden = c.models.len() - shown.len();
    let _ = write!(w, "({} models from {}", shown.len(), c.source);
    if let Some(t) = c.fetched_at {
        let _ = write!(
            w,
            ", fetched {} ago",
            render::duration(render::now().saturating_sub(t))
        );
    }
    if hidden > 0 {
        let _ = write!(w, "; {hidden} more with --all");
    }
    let _ = writeln!(w, ")");
    match &c.default_model {
        Some(d) => {
            let _ = writeln!(w, "* default: {d}   [..] default effort");
        }
        None => {
            let _ = writeln!(w, "no default model yet");
        }
    }
    let _ = writeln!(
        w,
        "compatibility version: {} ({})",
        c.client_version.version, c.client_version.source
    );
    if let Some(note) = &c.note {
        let _ = writeln!(w, "note: {note}");
    }
    out
}

/// One phrase for where instructions come from.
pub fn source_text(source: &InstructionSource, tag: Option<&str>) -> String {
    match source {
        InstructionSource::Override { path } => format!("your override {path}"),
        InstructionSource::LiveCatalog => "your account's live model catalog".into(),
        InstructionSource::CatalogFile { tag } => format!("release model catalog at {tag}"),
        InstructionSource::GitHub => format!("GitHub {}", tag.unwrap_or("?")),
        InstructionSource::Stale => format!("GitHub {}, stale", tag.unwrap_or("?")),
        InstructionSource::Fallback => "codexd fallback".into(),
    }
}
