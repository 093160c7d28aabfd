//! Operators' sessions: a random id in an HttpOnly, SameSite=Strict
//! cookie, and on the server the operator's credential (kept in memory
//! only, never sent back), the session's CSRF token, its language and
//! its expiry. Every action is authorized again with the credential, so
//! an operator removed from the operators file, or a credential rotated,
//! takes effect at the next click.

use std::collections::HashMap;
use std::sync::Mutex;

use harambee_service::ports::PeerCertificate;

use crate::catalog::Lang;

/// The cookie that holds a session's id.
pub const COOKIE: &str = "harambee_console";

/// What proves the operator's identity at each action.
#[derive(Clone, Debug)]
pub enum Held {
    Bearer(String),
    Certificate(PeerCertificate),
}

#[derive(Clone, Debug)]
pub struct Session {
    pub operator: String,
    pub credential: Held,
    /// Every form of the session carries it; a POST without it is refused.
    pub csrf: String,
    pub lang: Lang,
    pub expires_at_ms: i64,
}

/// The sessions open, bounded in number and in life.
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
    ttl_ms: i64,
    max: usize,
}

/// 32 random bytes, in hex.
fn token() -> String {
    let bytes: [u8; 32] = rand::random();
    harambee_core::text::hex(&bytes)
}

impl Sessions {
    pub fn new(ttl_ms: u64, max: usize) -> Sessions {
        assert!(ttl_ms > 0 && max > 0);
        Sessions {
            open: Mutex::new(HashMap::new()),
            ttl_ms: i64::try_from(ttl_ms).unwrap_or(i64::MAX),
            max,
        }
    }

    /// Opens a session; its id, or `None` if as many as allowed are open
    /// and none has expired.
    pub fn open(
        &self,
        operator: String,
        credential: Held,
        lang: Lang,
        now_ms: i64,
    ) -> Option<String> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= self.max {
            open.retain(|_, s| s.expires_at_ms > now_ms);
            if open.len() >= self.max {
                return None;
            }
        }
        let id = token();
        open.insert(
            id.clone(),
            Session {
                operator,
                credential,
                csrf: token(),
                lang,
                expires_at_ms: now_ms.saturating_add(self.ttl_ms),
            },
        );
        metrics::gauge!("harambee_console_sessions").set(open.len() as f64);
        Some(id)
    }

    /// The session of `id`, if open and not expired (an expired one is
    /// closed).
    pub fn get(&self, id: &str, now_ms: i64) -> Option<Session> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        match open.get(id) {
            Some(s) if s.expires_at_ms > now_ms => Some(s.clone()),
            Some(_) => {
                open.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, id: &str) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(id);
        metrics::gauge!("harambee_console_sessions").set(open.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_are_bounded() {
        let s = Sessions::new(1_000, 2);
        let held = || Held::Bearer("t".into());
        let a = s.open("a".into(), held(), Lang::En, 0).expect("a");
        let b = s.open("b".into(), held(), Lang::Fr, 0).expect("b");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(s.open("c".into(), held(), Lang::En, 500).is_none(), "full");
        assert_eq!(s.get(&a, 999).map(|x| x.operator), Some("a".into()));
        assert!(s.get(&a, 1_000).is_none(), "expired");
        // The expired ones make room.
        assert!(s.open("c".into(), held(), Lang::En, 1_000).is_some());
        s.close(&b);
        assert!(s.get(&b, 0).is_none());
        assert!(s.get("no-such-session", 0).is_none());
    }
}
