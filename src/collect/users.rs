//! User names through the system's user database (NSS: /etc/passwd, LDAP, SSSD, systemd's
//! dynamic users), as `ls -l` and `lsof` resolve them: getpwuid_r / getpwnam_r.

use std::collections::HashMap;

use crate::model::SafeText;

/// uid → name, looked up once per uid for the life of a collector.
#[derive(Debug, Default)]
pub struct UserNames {
    known: HashMap<u32, Option<SafeText>>,
    /// Lookups that failed for another reason than "no such user" (NSS unreachable, …).
    pub failures: Vec<String>,
}

impl UserNames {
    pub fn name(&mut self, uid: u32) -> Option<SafeText> {
        if let Some(name) = self.known.get(&uid) {
            return name.clone();
        }
        let name = match lookup_uid(uid) {
            Ok(name) => name,
            Err(error) => {
                self.failures
                    .push(format!("cannot look up the name of uid {uid}: {error}"));
                None
            }
        };
        self.known.insert(uid, name.clone());
        name
    }
}

#[cfg(unix)]
fn lookup_uid(uid: u32) -> Result<Option<SafeText>, String> {
    use nix::unistd::{Uid, User};
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(user) => Ok(user.map(|u| SafeText::new(&u.name))),
        Err(errno) => Err(errno.desc().to_string()),
    }
}

#[cfg(not(unix))]
fn lookup_uid(_uid: u32) -> Result<Option<SafeText>, String> {
    Ok(None)
}

/// `--user NAME|UID`: a number is a uid as it is (it may have no name); a name must exist.
pub fn resolve_user(text: &str) -> Result<u32, String> {
    if let Ok(uid) = text.parse::<u32>() {
        return Ok(uid);
    }
    lookup_name(text)
}

#[cfg(unix)]
fn lookup_name(name: &str) -> Result<u32, String> {
    use nix::unistd::User;
    match User::from_name(name) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        Ok(None) => Err("no such user; give a user name or a numeric uid".to_string()),
        Err(errno) => Err(format!("cannot look up the user: {}", errno.desc())),
    }
}

/// The primary group of a uid (the uid itself when the user database does not know it).
#[cfg(unix)]
pub fn primary_gid(uid: u32) -> u32 {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or(uid, |u| u.gid.as_raw())
}

#[cfg(not(unix))]
pub fn primary_gid(uid: u32) -> u32 {
    uid
}

#[cfg(not(unix))]
fn lookup_name(_name: &str) -> Result<u32, String> {
    Err("user names are not supported on this OS; give a numeric uid".to_string())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn root_and_numbers_resolve() {
        assert_eq!(resolve_user("root"), Ok(0));
        assert_eq!(resolve_user("4000000"), Ok(4_000_000));
        assert!(resolve_user("no-such-user-portscope").is_err());
        let mut names = UserNames::default();
        assert_eq!(names.name(0).map(|n| n.to_string()), Some("root".into()));
        assert_eq!(names.name(4_000_000), None);
        assert!(names.failures.is_empty());
    }
}
