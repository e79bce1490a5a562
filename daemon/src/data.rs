//! Data controls: every place codexd stores something, with sizes, and purging by kind.
//! Credentials are never purged here: only logout deletes them, after revoking.

use codexd_proto::data::{DataLocation, DataRequest};
use codexd_proto::{Reply, WireError};

use crate::fsutil::disk_usage;
use crate::server::Services;

/// Answer `Request::Data`.
pub async fn handle(req: DataRequest, svc: &Services) -> Result<Reply, WireError> {
    match req {
        DataRequest::List => Ok(Reply::Data(locations(svc))),
        DataRequest::Purge { .. } => Err(WireError::new(
            codexd_proto::ErrorCode::Disabled,
            "purge is not implemented yet",
        )),
    }
}

fn loc(what: &str, path: &std::path::Path, note: Option<&str>) -> DataLocation {
    DataLocation {
        what: what.into(),
        path: path.display().to_string(),
        bytes: Some(disk_usage(path)),
        note: note.map(Into::into),
    }
}

/// Every storage location.
pub fn locations(svc: &Services) -> Vec<DataLocation> {
    let p = &svc.paths;
    vec![
        loc("config", &svc.config_path, None),
        loc(
            "credentials file",
            &p.credentials_file(),
            Some("only used when no OS keyring is available or credentials_store = \"file\""),
        ),
        loc("sessions", &p.sessions_dir(), None),
        loc("cache", &p.cache_dir, None),
        loc("logs", &p.log_dir, None),
        loc("socket", &svc.socket, None),
    ]
}
