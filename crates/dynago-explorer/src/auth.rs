//! Who may act: the operator's token, the session cookie that proves it,
//! and the checks that refuse requests from other sites.

use axum::http::{header, HeaderMap};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The cookie that holds a session.
pub(crate) const SESSION_COOKIE: &str = "dynago_explorer_session";

/// What an action needs: a token, from which the session and the form
/// tokens are derived (neither reveals it).
#[derive(Clone)]
pub(crate) struct Secret {
    token: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Actions are not enabled.
    Disabled,
    /// No valid session cookie: log in with the token first.
    NoSession,
    /// The form's token is missing or wrong.
    BadFormToken,
    /// The request came from another site.
    CrossSite,
}

impl Refusal {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::Disabled => "actions are not enabled on this explorer",
            Refusal::NoSession => "log in with the explorer's token first",
            Refusal::BadFormToken => "the form's token is missing or wrong: reload the page",
            Refusal::CrossSite => "refused: the request came from another site",
        }
    }
}

impl Secret {
    pub(crate) fn new(token: String) -> Self {
        Self { token }
    }

    fn derive(&self, purpose: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.token.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(purpose.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// Whether `token` is the operator's token (compared in constant time).
    pub(crate) fn is_token(&self, token: &str) -> bool {
        equal(
            &self.derive("login"),
            &Secret::new(token.to_owned()).derive("login"),
        )
    }

    /// The value of the session cookie.
    pub(crate) fn session(&self) -> String {
        self.derive("session")
    }

    /// The token each action's form carries.
    pub(crate) fn form_token(&self) -> String {
        self.derive("form")
    }

    /// A signature of `text`, for a message the explorer hands itself
    /// through a redirect (a replay's report), that no link can forge.
    pub(crate) fn sign(&self, text: &str) -> String {
        self.derive(&format!("flash\n{text}"))
    }

    /// Whether `signature` is the explorer's signature of `text`.
    pub(crate) fn signed(&self, text: &str, signature: &str) -> bool {
        equal(signature, &self.sign(text))
    }

    /// Whether the request carries a valid session cookie.
    pub(crate) fn has_session(&self, headers: &HeaderMap) -> bool {
        cookie(headers, SESSION_COOKIE).is_some_and(|value| equal(value, &self.session()))
    }

    /// Checks an action's request: same site, a session, the form's token.
    pub(crate) fn authorize(&self, headers: &HeaderMap, form_token: &str) -> Result<(), Refusal> {
        if !same_site(headers) {
            return Err(Refusal::CrossSite);
        }
        if !self.has_session(headers) {
            return Err(Refusal::NoSession);
        }
        if !equal(form_token, &self.form_token()) {
            return Err(Refusal::BadFormToken);
        }
        Ok(())
    }
}

/// A request a browser says another site made: a link or an image of
/// another page (`Sec-Fetch-Site: cross-site` or `same-site`), for a
/// request that costs (a scan) even when it changes nothing.
pub(crate) fn from_another_site(headers: &HeaderMap) -> bool {
    !same_site(headers)
}

/// A request from this site: the browser says so (`Sec-Fetch-Site`), or
/// its `Origin` names this host; a request that sends neither (a script,
/// curl) is not a browser's cross-site request.
pub(crate) fn same_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (None, _) => true,
        (Some(origin), Some(host)) => match (origin.to_str(), host.to_str()) {
            (Ok(origin), Ok(host)) => origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority == host),
            _ => false,
        },
        (Some(_), None) => false,
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Compares two strings in time independent of where they differ.
fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        headers
    }

    #[test]
    fn the_token_opens_a_session_and_nothing_else_does() {
        let secret = Secret::new("s3cret".into());
        assert!(secret.is_token("s3cret"));
        assert!(!secret.is_token("s3cre"));
        assert!(!secret.is_token(""));
        assert_ne!(secret.session(), "s3cret");
        assert_ne!(secret.session(), secret.form_token());
    }

    #[test]
    fn an_action_needs_the_session_cookie_and_the_form_token() {
        let secret = Secret::new("s3cret".into());
        let session = format!("other=1; {SESSION_COOKIE}={}", secret.session());
        let good = headers(&[("cookie", &session), ("sec-fetch-site", "same-origin")]);
        assert_eq!(secret.authorize(&good, &secret.form_token()), Ok(()));
        assert_eq!(
            secret.authorize(&good, "forged"),
            Err(Refusal::BadFormToken)
        );
        let no_cookie = headers(&[("sec-fetch-site", "same-origin")]);
        assert_eq!(
            secret.authorize(&no_cookie, &secret.form_token()),
            Err(Refusal::NoSession)
        );
        let wrong = headers(&[("cookie", &format!("{SESSION_COOKIE}=abc"))]);
        assert_eq!(
            secret.authorize(&wrong, &secret.form_token()),
            Err(Refusal::NoSession)
        );
    }

    #[test]
    fn a_signature_holds_for_its_text_alone() {
        let secret = Secret::new("s3cret-s3cret-s3cret".into());
        let signature = secret.sign("Replayed a: applied");
        assert!(secret.signed("Replayed a: applied", &signature));
        assert!(!secret.signed("Replayed b: applied", &signature));
        assert!(!Secret::new("another-token-here".into()).signed("Replayed a: applied", &signature));
    }

    #[test]
    fn a_request_from_another_site_is_refused_even_with_the_cookie() {
        let secret = Secret::new("s3cret".into());
        let session = format!("{SESSION_COOKIE}={}", secret.session());
        let cross = headers(&[("cookie", &session), ("sec-fetch-site", "cross-site")]);
        assert_eq!(
            secret.authorize(&cross, &secret.form_token()),
            Err(Refusal::CrossSite)
        );
        let origin = headers(&[
            ("cookie", &session),
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:7000"),
        ]);
        assert_eq!(
            secret.authorize(&origin, &secret.form_token()),
            Err(Refusal::CrossSite)
        );
        let same = headers(&[
            ("cookie", &session),
            ("origin", "http://127.0.0.1:7000"),
            ("host", "127.0.0.1:7000"),
        ]);
        assert_eq!(secret.authorize(&same, &secret.form_token()), Ok(()));
    }
}
