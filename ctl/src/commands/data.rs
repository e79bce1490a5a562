//! `codexctl data list | purge`. (Foundation stub for purge: filled in by the logs/data issue.)

use codexd_proto::data::DataRequest;
use codexd_proto::{Reply, Request};

use super::Ctx;
use crate::client::unexpected;
use crate::render;
use clap::Subcommand;

/// `data`
#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Every place codexd stores something, with sizes.
    List,
    /// Delete stored data (credentials only through `logout`); say what.
    #[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["logs", "cache", "sessions", "all"])))]
    Purge {
        /// Log files and request logs.
        #[arg(long)]
        logs: bool,
        /// Instruction and model caches.
        #[arg(long)]
        cache: bool,
        /// Stored conversations.
        #[arg(long)]
        sessions: bool,
        /// All of the above.
        #[arg(long)]
        all: bool,
    },
}

/// Run `data`.
pub fn run(cmd: DataCommand, ctx: &Ctx) -> anyhow::Result<u8> {
    let req = match cmd {
        DataCommand::List => DataRequest::List,
        DataCommand::Purge {
            logs,
            cache,
            sessions,
            all,
        } => {
            // clap requires at least one of them (a usage error, exit 2, otherwise).
            DataRequest::Purge {
                logs: logs || all,
                cache: cache || all,
                sessions: sessions || all,
            }
        }
    };
    let locations = match ctx.connect()?.call_simple(Request::Data(req))? {
        Reply::Data(l) => l,
        other => return Err(unexpected(other)),
    };
    if ctx.json {
        render::json(&locations)?;
        return Ok(crate::exit::OK);
    }
    for l in locations {
        let size = l.bytes.map(render::bytes).unwrap_or_default();
        println!(
            "{:<18} {:>9}  {}{}",
            l.what,
            size,
            l.path,
            l.note.map(|n| format!("  ({n})")).unwrap_or_default()
        );
    }
    Ok(crate::exit::OK)
}
