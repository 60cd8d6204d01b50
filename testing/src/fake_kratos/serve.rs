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
