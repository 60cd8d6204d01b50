//! The fake's two transports: an HTTP server on 127.0.0.1, and a wiremock
//! responder for tests that want wiremock's call expectations.

use std::io;
use std::net::SocketAddr;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Request, Response, Server};
use tokio::task::JoinHandle;

use super::{Answer, FakeKratos};

/// The fake, serving over HTTP until dropped (or forever: [`RunningFake::wait`]).
pub struct RunningFake {
    address: SocketAddr,
    server: JoinHandle<io::Result<()>>,
}

impl RunningFake {
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:{port}`, the Kratos admin URL.
    pub fn uri(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Serves until the server fails.
    ///
    /// # Errors
    /// When accepting connections fails.
    pub async fn wait(mut self) -> io::Result<()> {
        (&mut self.server).await.map_err(io::Error::other)?
    }
}

impl Drop for RunningFake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeKratos {
    /// Serves on 127.0.0.1:`port` (0: any free port, see [`RunningFake::address`]).
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn serve(&self, port: u16) -> io::Result<RunningFake> {
        let acceptor = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .into_acceptor()
            .await?;
        let address = acceptor
            .local_addr()
            .iter()
            .find_map(|address| address.as_socket_addr().copied())
            .ok_or_else(|| io::Error::other("the listener has no socket address"))?;
        let fake = self.clone();
        let endpoint = poem::endpoint::make(move |request| {
            let fake = fake.clone();
            async move { fake.over_http(request).await }
        });
        let server = tokio::spawn(Server::new_with_acceptor(acceptor).run(endpoint));
        Ok(RunningFake { address, server })
    }

    async fn over_http(&self, request: Request) -> Response {
        let method = request.method().as_str().to_owned();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or_default().to_owned();
        let body = request.into_body().into_vec().await.unwrap_or_default();
        let Answer {
            status,
            link,
            body,
            delay,
        } = self.answer(&method, &path, &query, &body);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let status = poem::http::StatusCode::from_u16(status)
            .unwrap_or(poem::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Response::builder()
            .status(status)
            .content_type("application/json");
        if let Some(link) = link {
            response = response.header("link", link);
        }
        response.body(body)
    }
}

impl wiremock::Respond for FakeKratos {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let Answer {
            status,
            link,
            body,
            delay,
        } = self.answer(
            request.method.as_str(),
            request.url.path(),
            request.url.query().unwrap_or_default(),
            &request.body,
        );
        let answer = wiremock::ResponseTemplate::new(status)
            .set_body_raw(body, "application/json")
            .set_delay(delay);
        match link {
            Some(link) => answer.insert_header("link", link.as_str()),
            None => answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use uuid::Uuid;

    use super::super::tests::{ids, next_token};
    use crate::kratos_json::numbered_id;
    use crate::FakeKratos;

    #[tokio::test]
    async fn the_fake_serves_over_http_on_loopback() {
        let fake = FakeKratos::numbered(3, "user{n}@example.com")
            .expect("pattern")
            .largest_page(2);
        let running = fake.serve(0).await.expect("bind");
        assert!(running.address().ip().is_loopback());
        let http = reqwest::Client::new();
        let page = http
            .get(format!("{}/admin/identities?page_size=2", running.uri()))
            .send()
            .await
            .expect("list");
        assert_eq!(page.status(), 200);
        let links: Vec<_> = page.headers().get_all("link").iter().collect();
        assert_eq!(links.len(), 1, "one comma-joined Link header");
        let token = next_token(links[0].to_str().expect("ascii")).expect("a next page");
        assert_eq!(token, numbered_id(1).to_string());
        let body: Value = page.json().await.expect("json");
        assert_eq!(body.as_array().map(Vec::len), Some(2));

        let patch = http
            .patch(format!(
                "{}/admin/identities/{}",
                running.uri(),
                numbered_id(2)
            ))
            .json(&json!([{"op": "add", "path": "/external_id", "value": "u 1"}]))
            .send()
            .await
            .expect("patch");
        assert_eq!(patch.status(), 200);
        let found = http
            .get(format!(
                "{}/admin/identities/by/external/u%201",
                running.uri()
            ))
            .send()
            .await
            .expect("by external id");
        assert_eq!(found.status(), 200);
        let missing = http
            .get(format!(
                "{}/admin/identities/{}",
                running.uri(),
                Uuid::nil()
            ))
            .send()
            .await
            .expect("get");
        assert_eq!(missing.status(), 404);
        assert_eq!(fake.stats().list_calls, 1, "clones share their counts");
    }

    #[tokio::test]
    async fn the_fake_answers_through_wiremock_too() {
        let fake = FakeKratos::numbered(3, "user{n}@example.com").expect("pattern");
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::path("/admin/identities"))
            .respond_with(fake.clone())
            .expect(1)
            .mount(&server)
            .await;
        let page = reqwest::get(format!("{}/admin/identities?page_size=2", server.uri()))
            .await
            .expect("list");
        assert_eq!(page.status(), 200);
        assert!(page.headers().get("link").is_some());
        let body: Value = page.json().await.expect("json");
        assert_eq!(
            ids(&body),
            [numbered_id(0).to_string(), numbered_id(1).to_string()]
        );
        server.verify().await;
    }
}
