//! `codexctl instructions` (which base instructions a model gets, from where, how fresh) and
//! `codexctl models` (the model catalog for the signed-in plan).

use codexd_proto::instructions::{
    InstructionSource, InstructionsInfo, InstructionsRequest, ModelCatalog,
};
use codexd_proto::{Reply, Request};

use super::Ctx;
use crate::cli::{InstructionsArgs, ModelsArgs};
use crate::client::unexpected;
use crate::render;

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
    let _ = writeln!(w, "model:        {}", i.model);
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
        print!("{}", models_text(&catalog));
    }
    Ok(crate::exit::OK)
}

/// The human rendering of the catalog.
pub fn models_text(c: &ModelCatalog) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let w = &mut out;
    for m in &c.models {
        let efforts: Vec<&str> = m.supported_efforts.iter().map(|e| e.as_str()).collect();
        let _ = write!(w, "{}", m.slug);
        if let Some(name) = m.display_name.as_deref().filter(|n| *n != m.slug) {
            let _ = write!(w, "  ({name})");
        }
        if !efforts.is_empty() {
            let _ = write!(w, "  effort: {}", efforts.join(", "));
            if let Some(d) = m.default_effort {
                let _ = write!(w, " (default {})", d.as_str());
            }
        }
        if let Some(cw) = m.context_window {
            let _ = write!(w, "  context: {cw}");
        }
        let _ = writeln!(w);
    }
    match c.fetched_at {
        Some(t) => {
            let _ = writeln!(
                w,
                "({} models from the {}, fetched {} ago)",
                c.models.len(),
                c.source,
                render::duration(render::now().saturating_sub(t))
            );
        }
        None => {
            let _ = writeln!(w, "(no model catalog)");
        }
    }
    if let Some(note) = &c.note {
        let _ = writeln!(w, "note: {note}");
    }
    out
}

/// One phrase for where instructions come from.
pub fn source_text(source: &InstructionSource, tag: Option<&str>) -> String {
    match source {
        InstructionSource::Override { path } => format!("your override {path}"),
        InstructionSource::Catalog => "model catalog".into(),
        InstructionSource::GitHub => format!("GitHub {}", tag.unwrap_or("?")),
        InstructionSource::Stale => format!("GitHub {}, stale", tag.unwrap_or("?")),
        InstructionSource::Fallback => "codexd fallback".into(),
    }
}
