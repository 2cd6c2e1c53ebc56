//! Auth (SPEC §5). `--auth-file` holds one token a line: `<token> <publisher-id> <roles>`, roles a
//! comma-separated subset of `publish`, `consume`, `admin`. Without the file the API is open.
//! Every call but `/livez`, `/readyz` and `/metrics` then needs `Authorization: Bearer <token>`
//! (the seed's `PUT /` body may carry it as `"Token"`). No token or an unknown one is 401; a
//! token without the role the call needs is 403.

use std::collections::HashMap;
use std::path::Path;

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Publish,
    Consume,
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Publish => "publish",
            Role::Consume => "consume",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Recorded on every message this principal publishes.
    pub publisher: String,
    pub roles: Vec<Role>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// The token table; `None` means open mode.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Option<HashMap<String, Principal>>,
}

impl Auth {
    pub fn open() -> Auth {
        Auth { tokens: None }
    }

    pub fn load(path: &Path) -> Result<Auth> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("--auth-file {}", path.display()), e))?;
        Auth::parse(&text)
            .map_err(|e| Error::Config(format!("--auth-file {}: {e}", path.display())))
    }

    pub fn parse(text: &str) -> std::result::Result<Auth, String> {
        let mut tokens = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [token, publisher, roles] = fields[..] else {
                return Err(format!(
                    "line {}: expected `<token> <publisher-id> <roles>`",
                    n + 1
                ));
            };
            let roles = roles
                .split(',')
                .map(|r| match r {
                    "publish" => Ok(Role::Publish),
                    "consume" => Ok(Role::Consume),
                    "admin" => Ok(Role::Admin),
                    other => Err(format!(
                        "line {}: unknown role {other:?} (use publish, consume, admin)",
                        n + 1
                    )),
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            if tokens
                .insert(
                    token.to_string(),
                    Principal {
                        publisher: publisher.to_string(),
                        roles,
                    },
                )
                .is_some()
            {
                return Err(format!("line {}: duplicate token", n + 1));
            }
        }
        if tokens.is_empty() {
            return Err(
                "no tokens: an auth file needs at least one `<token> <publisher-id> <roles>` line"
                    .into(),
            );
        }
        Ok(Auth {
            tokens: Some(tokens),
        })
    }

    pub fn enabled(&self) -> bool {
        self.tokens.is_some()
    }

    /// The principal of a bearer token, if it is known.
    pub fn principal(&self, token: &str) -> Option<&Principal> {
        self.tokens.as_ref()?.get(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_lines_give_principals() {
        let a = Auth::parse("# comment\nt1 alice publish,consume\n\nt2 ops admin\n").unwrap();
        assert!(a.enabled());
        let p = a.principal("t1").unwrap();
        assert_eq!(p.publisher, "alice");
        assert!(p.has(Role::Publish) && p.has(Role::Consume) && !p.has(Role::Admin));
        assert!(a.principal("nope").is_none());
    }

    #[test]
    fn malformed_token_files_are_rejected_with_the_line() {
        assert!(Auth::parse("t1 alice").unwrap_err().contains("line 1"));
        assert!(Auth::parse("t1 alice superuser")
            .unwrap_err()
            .contains("unknown role"));
        assert!(Auth::parse("t1 a publish\nt1 b consume")
            .unwrap_err()
            .contains("duplicate"));
        assert!(Auth::parse("").is_err());
    }
}
