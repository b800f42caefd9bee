//! `parties.toml`: who the three parties are, where they listen and which
//! certificate each one is pinned to.
//!
//! ```toml
//! [[party]]
//! name = "alice"
//! role = "model-owner"     # party 0
//! address = "10.0.0.1:7000"
//! cert = "alice.crt"       # relative to this file's folder
//!
//! [[party]]
//! name = "bob"
//! role = "data-owner"      # party 1
//! address = "10.0.0.2:7000"
//! cert = "bob.crt"
//!
//! [[party]]
//! name = "carol"
//! role = "helper"          # party 2
//! address = "10.0.0.3:7000"
//! cert = "carol.crt"
//! ```
//!
//! Exactly one party has each role; names and addresses are distinct. The
//! party number comes from the role, not from the order in the file.

use crate::tls::PeerSpec;
use crate::PartyId;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A party's role, which fixes its party number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    ModelOwner,
    DataOwner,
    Helper,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::ModelOwner, Role::DataOwner, Role::Helper];

    /// 0 = model owner, 1 = data owner, 2 = helper.
    pub fn party_id(self) -> PartyId {
        match self {
            Role::ModelOwner => 0,
            Role::DataOwner => 1,
            Role::Helper => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::ModelOwner => "model-owner",
            Role::DataOwner => "data-owner",
            Role::Helper => "helper",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One checked `[[party]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartyEntry {
    pub name: String,
    pub role: Role,
    /// "host:port" the party listens on and the others connect to.
    pub address: String,
    /// Certificate path, resolved against the toml file's folder.
    pub cert: PathBuf,
}

/// The three parties, indexed by party number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartiesConfig {
    /// Where it was read from (for messages); `<string>` when parsed from text.
    pub source: String,
    pub parties: [PartyEntry; 3],
}

/// A one-line error naming the file and, where there is one, the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {msg}")]
pub struct ConfigError {
    pub file: String,
    pub msg: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    party: Option<Vec<RawParty>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParty {
    name: Option<String>,
    role: Option<String>,
    address: Option<String>,
    cert: Option<String>,
}

impl PartiesConfig {
    /// Reads and checks `path`; relative certificate paths are resolved
    /// against its folder.
    pub fn load(path: &Path) -> Result<PartiesConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            msg: format!("cannot read: {e}"),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base, &file)
    }

    /// Parses and checks toml `text`; `base` resolves relative certificate
    /// paths and `file` names the source in errors.
    pub fn parse(text: &str, base: &Path, file: &str) -> Result<PartiesConfig, ConfigError> {
        let fail = |msg: String| ConfigError {
            file: file.to_string(),
            msg,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| format!("line {}: ", text[..s.start.min(text.len())].matches('\n').count() + 1))
                .unwrap_or_default();
            fail(format!("{line}{}", e.message().trim().replace('\n', "; ")))
        })?;
        let raw = raw.party.unwrap_or_default();
        if raw.len() != 3 {
            return Err(fail(format!(
                "expected exactly 3 [[party]] entries, found {}",
                raw.len()
            )));
        }
        let mut slots: [Option<(usize, PartyEntry)>; 3] = Default::default();
        for (i, p) in raw.into_iter().enumerate() {
            let label = match &p.name {
                Some(n) => format!("party #{} ({n:?})", i + 1),
                None => format!("party #{}", i + 1),
            };
            let missing = |field: &str| fail(format!("{label}: missing `{field}`"));
            let name = p.name.clone().ok_or_else(|| missing("name"))?;
            if name.trim().is_empty() {
                return Err(fail(format!("{label}: empty name")));
            }
            let role_s = p.role.ok_or_else(|| {
                fail(format!(
                    "{label}: missing `role` (one of model-owner, data-owner, helper)"
                ))
            })?;
            let role = Role::parse(&role_s).ok_or_else(|| {
                fail(format!(
                    "{label}: unknown role {role_s:?} (expected model-owner, data-owner or helper)"
                ))
            })?;
            let address = p.address.ok_or_else(|| missing("address"))?;
            check_address(&address).map_err(|m| fail(format!("{label}: bad address {address:?}: {m}")))?;
            let cert = p.cert.ok_or_else(|| missing("cert"))?;
            if cert.is_empty() {
                return Err(fail(format!("{label}: empty cert path")));
            }
            let cert = base.join(cert);
            let id = role.party_id();
            if let Some((j, other)) = &slots[id] {
                return Err(fail(format!(
                    "{label} and party #{} ({:?}) both have role {role}",
                    j + 1,
                    other.name
                )));
            }
            for (j, other) in slots.iter().flatten() {
                if other.name == name {
                    return Err(fail(format!("{label}: name {name:?} is also used by party #{}", j + 1)));
                }
                if other.address == address {
                    return Err(fail(format!(
                        "{label}: address {address} is also used by party #{} ({:?})",
                        j + 1,
                        other.name
                    )));
                }
            }
            slots[id] = Some((
                i,
                PartyEntry {
                    name,
                    role,
                    address,
                    cert,
                },
            ));
        }
        let [a, b, c] = slots;
        match (a, b, c) {
            (Some((_, a)), Some((_, b)), Some((_, c))) => Ok(PartiesConfig {
                source: file.to_string(),
                parties: [a, b, c],
            }),
            // Three entries with no duplicate role cover all three roles.
            _ => Err(fail("a role is missing".into())),
        }
    }

    /// The party number of the entry called `name`.
    pub fn party_by_name(&self, name: &str) -> Option<PartyId> {
        self.parties.iter().position(|p| p.name == name)
    }

    /// Reads the three certificates: addresses and pinned certificates for
    /// [`crate::tls::connect_all`].
    pub fn peer_specs(&self) -> Result<[PeerSpec; 3], ConfigError> {
        let read = |p: &PartyEntry| -> Result<PeerSpec, ConfigError> {
            let cert_pem = std::fs::read_to_string(&p.cert).map_err(|e| ConfigError {
                file: self.source.clone(),
                msg: format!("party {:?}: cannot read certificate {}: {e}", p.name, p.cert.display()),
            })?;
            Ok(PeerSpec {
                address: p.address.clone(),
                cert_pem,
            })
        };
        let [a, b, c] = &self.parties;
        Ok([read(a)?, read(b)?, read(c)?])
    }
}

/// "host:port" with a non-empty host (IPv6 in brackets) and a port 1-65535.
fn check_address(addr: &str) -> Result<(), String> {
    let (host, port) = addr.rsplit_once(':').ok_or("expected host:port")?;
    if host.is_empty() {
        return Err("empty host".into());
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err("an IPv6 host must be in brackets, like [::1]:7000".into());
    }
    if host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err("host has spaces or slashes".into());
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("port {port:?} is not a number from 1 to 65535")),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[party]]
name = "carol"
role = "helper"
address = "127.0.0.1:7002"
cert = "carol.crt"

[[party]]
name = "alice"
role = "model-owner"
address = "127.0.0.1:7000"
cert = "/abs/alice.crt"

[[party]]
name = "bob"
role = "data-owner"
address = "[::1]:7001"
cert = "certs/bob.crt"
"#;

    fn parse(text: &str) -> Result<PartiesConfig, ConfigError> {
        PartiesConfig::parse(text, Path::new("/etc/cf"), "parties.toml")
    }

    #[test]
    fn good_file() {
        let c = parse(GOOD).expect("valid");
        assert_eq!(c.parties[0].name, "alice");
        assert_eq!(c.parties[1].address, "[::1]:7001");
        assert_eq!(c.parties[2].role, Role::Helper);
        assert_eq!(c.parties[0].cert, PathBuf::from("/abs/alice.crt"));
        assert_eq!(c.parties[1].cert, PathBuf::from("/etc/cf/certs/bob.crt"));
        assert_eq!(c.party_by_name("carol"), Some(2));
    }

    #[test]
    fn missing_role() {
        let text = GOOD.replacen("role = \"data-owner\"\n", "", 1);
        let e = parse(&text).expect_err("must fail").to_string();
        assert_eq!(
            e,
            "parties.toml: party #3 (\"bob\"): missing `role` (one of model-owner, data-owner, helper)"
        );
    }

    #[test]
    fn duplicate_role_name_and_address() {
        let text = GOOD.replacen("role = \"data-owner\"", "role = \"helper\"", 1);
        let e = parse(&text).expect_err("dup role").to_string();
        assert!(
            e.contains("party #3 (\"bob\") and party #1 (\"carol\") both have role helper"),
            "{e}"
        );
        let text = GOOD.replacen("name = \"bob\"", "name = \"alice\"", 1);
        let e = parse(&text).expect_err("dup name").to_string();
        assert!(e.contains("name \"alice\" is also used by party #2"), "{e}");
        let text = GOOD.replacen("[::1]:7001", "127.0.0.1:7000", 1);
        let e = parse(&text).expect_err("dup address").to_string();
        assert!(e.contains("address 127.0.0.1:7000 is also used by party #2"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn bad_address_and_other_errors() {
        for (bad, why) in [
            ("127.0.0.1", "expected host:port"),
            ("127.0.0.1:0", "not a number from 1 to 65535"),
            ("host:http", "not a number"),
            (":7000", "empty host"),
            ("::1:7000", "brackets"),
        ] {
            let text = GOOD.replacen("127.0.0.1:7002", bad, 1);
            let e = parse(&text).expect_err(bad).to_string();
            assert!(e.starts_with("parties.toml: party #1 (\"carol\"): bad address"), "{e}");
            assert!(e.contains(why), "{e}");
        }
        let e = parse("[[party]]\nname = 1\n").expect_err("type").to_string();
        assert!(e.starts_with("parties.toml: line 2: "), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = parse(&GOOD.replacen("cert = \"carol.crt\"", "cert = \"c\"\ncolour = 1", 1)).expect_err("unknown");
        assert!(e.msg.contains("colour"), "{e}");
        let e = parse(&GOOD.replacen("role = \"helper\"", "role = \"boss\"", 1)).expect_err("role");
        assert!(e.msg.contains("unknown role \"boss\""), "{e}");
        let two = GOOD.rsplit_once("[[party]]").map(|(a, _)| a).unwrap_or_default();
        let e = parse(two).expect_err("two parties");
        assert!(e.msg.contains("exactly 3"), "{e}");
        assert!(PartiesConfig::load(Path::new("/nonexistent/parties.toml"))
            .expect_err("no file")
            .to_string()
            .starts_with("/nonexistent/parties.toml: cannot read"));
    }
}
