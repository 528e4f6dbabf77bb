//! Console sessions: after an operator logs in with their token, the
//! browser holds a cookie naming the operator and an expiry, signed with a
//! key of this process (HMAC-SHA256). The token itself never goes into the
//! cookie; a restart ends every session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Operator;

/// The cookie's name.
pub const COOKIE: &str = "moneta_console";

/// How long a session lasts, seconds (a working day).
pub const SESSION_S: i64 = 8 * 3600;

/// Signs and checks session cookies.
#[derive(Clone)]
pub struct SessionKey([u8; 64]);

impl SessionKey {
    /// A fresh random key.
    pub fn random() -> Self {
        Self(rand::random())
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&self.0.into());
        mac.update(payload.as_bytes());
        mac
    }

    /// The cookie value of `operator`'s session, valid until `expires_at`.
    pub fn issue(&self, operator: &Operator, expires_at: i64) -> String {
        let payload = format!("{}|{expires_at}", operator.0);
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The operator of a cookie value this key issued, unless expired at `now`.
    pub fn check(&self, value: &str, now: i64) -> Option<Operator> {
        let (payload, tag) = value.split_once('.')?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(&payload).verify_slice(&tag).ok()?;
        let (name, expires_at) = payload.rsplit_once('|')?;
        (expires_at.parse::<i64>().ok()? > now).then(|| Operator(name.to_owned()))
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(***)")
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_names_its_operator_until_it_expires_and_cannot_be_forged() {
        let key = SessionKey::random();
        let alice = Operator("alice".into());
        let value = key.issue(&alice, 1_000);
        assert_eq!(key.check(&value, 999), Some(alice.clone()));
        assert_eq!(key.check(&value, 1_000), None, "expired");
        assert_eq!(SessionKey::random().check(&value, 0), None, "another key");
        let (_, tag) = value.split_once('.').expect("two parts");
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("admin|9999999999"));
        assert_eq!(key.check(&forged, 0), None);
        assert_eq!(cookie("a=1; moneta_console=xyz; b=2", COOKIE), Some("xyz"));
        assert!(!format!("{key:?}").contains(&format!("{:?}", key.0)));
    }
}
