use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use identity_link_ports::Session;
use poem::http::HeaderValue;
use uuid::Uuid;

use super::*;

/// A whoami that knows one token per identity and counts its calls.
struct FakeKratos {
    sessions: HashMap<String, Result<AuthId, &'static str>>,
    calls: AtomicUsize,
}

#[async_trait]
impl SessionVerifier for FakeKratos {
    async fn whoami(&self, credential: &SessionCredential) -> Result<Session, SessionError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.sessions.get(credential.secret()) {
            Some(Ok(identity)) => Ok(Session {
                identity: *identity,
                expires_at: None,
            }),
            Some(Err(_)) => Err(SessionError::Unavailable("down".into())),
            None => Err(SessionError::Invalid),
        }
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn token(value: &str) -> Presented {
    Presented::Bearer(SecretPresented(value.into()))
}

fn session(value: &str) -> Presented {
    Presented::Session(SessionCredential::Token(value.into()))
}

#[test]
fn credentials_are_read_from_authorization_session_token_or_the_kratos_cookie() {
    assert_eq!(Presented::from_headers(&headers(&[])), Presented::Nothing);
    assert_eq!(
        Presented::from_headers(&headers(&[("authorization", "bearer abc ")])),
        token("abc")
    );
    assert_eq!(
        Presented::from_headers(&headers(&[("authorization", "Basic YTpi")])),
        Presented::UnsupportedScheme
    );
    assert_eq!(
        Presented::from_headers(&headers(&[("x-session-token", "tok")])),
        session("tok")
    );
    assert_eq!(
        Presented::from_headers(&headers(&[(
            "cookie",
            "theme=dark; ory_kratos_session=c00kie; other=1"
        )])),
        Presented::Session(SessionCredential::Cookie("c00kie".into()))
    );
    assert_eq!(
        Presented::from_headers(&headers(&[("cookie", "ory_kratos_session_x=1")])),
        Presented::Nothing
    );
    assert_eq!(
        Presented::from_headers(&headers(&[
            ("cookie", "ory_kratos_session=c"),
            ("authorization", "Bearer t")
        ])),
        token("t"),
        "the bearer token decides when present"
    );
}

#[test]
fn presented_tokens_never_print() {
    let printed = format!("{:?} {:?}", token("s3cret"), session("s3cret"));
    assert!(!printed.contains("s3cret"), "{printed}");
}

#[tokio::test]
async fn only_the_configured_admin_token_is_admitted() {
    let secret = SecretString::from("the-admin-token");
    let auth = Authenticator::new(Some(&secret), &[], None);
    assert_eq!(
        auth.authenticate(&token("the-admin-token")).await,
        Ok(Admin {
            actor: "admin-token".into()
        })
    );
    for wrong in ["the-admin-toke", "the-admin-token2", "", "THE-ADMIN-TOKEN"] {
        assert!(matches!(
            auth.authenticate(&token(wrong)).await,
            Err(Denied::Unauthenticated(_))
        ));
    }
    let unconfigured = Authenticator::new(None, &[], None);
    assert!(matches!(
        unconfigured.authenticate(&token("")).await,
        Err(Denied::Unauthenticated(_))
    ));
    assert!(matches!(
        unconfigured.authenticate(&Presented::Nothing).await,
        Err(Denied::Unauthenticated(_))
    ));
}

#[tokio::test]
async fn an_admin_session_is_admitted_and_remembered_briefly_a_non_admin_is_forbidden() {
    let admin = AuthId::new(Uuid::new_v4());
    let user = AuthId::new(Uuid::new_v4());
    let kratos = Arc::new(FakeKratos {
        sessions: HashMap::from([
            ("admin-session".to_owned(), Ok(admin)),
            ("user-session".to_owned(), Ok(user)),
            ("down".to_owned(), Err("down")),
        ]),
        calls: AtomicUsize::new(0),
    });
    let auth = Authenticator::new(None, &[admin], Some(kratos.clone()));

    for _ in 0..3 {
        assert_eq!(
            auth.authenticate(&session("admin-session")).await,
            Ok(Admin {
                actor: format!("kratos:{admin}")
            })
        );
    }
    assert_eq!(
        kratos.calls.load(Ordering::SeqCst),
        1,
        "answered from the cache"
    );

    for _ in 0..2 {
        assert!(matches!(
            auth.authenticate(&session("user-session")).await,
            Err(Denied::Forbidden(_))
        ));
    }
    assert_eq!(
        kratos.calls.load(Ordering::SeqCst),
        3,
        "refusals are not cached"
    );

    assert!(matches!(
        auth.authenticate(&session("unknown")).await,
        Err(Denied::Unauthenticated(_))
    ));
    assert!(matches!(
        auth.authenticate(&session("down")).await,
        Err(Denied::Unavailable(_))
    ));
    let cookie = Presented::Session(SessionCredential::Cookie("admin-session".into()));
    assert!(auth.authenticate(&cookie).await.is_ok());
    assert_eq!(
        kratos.calls.load(Ordering::SeqCst),
        6,
        "a cookie and a token with the same value are cached apart"
    );
}

#[tokio::test]
async fn sessions_are_refused_when_no_kratos_public_url_is_configured() {
    let auth = Authenticator::new(None, &[AuthId::new(Uuid::new_v4())], None);
    assert!(matches!(
        auth.authenticate(&session("anything")).await,
        Err(Denied::Unauthenticated(message)) if message.contains("KRATOS_PUBLIC_URL")
    ));
}
