//! Request body size limit: refuses by `Content-Length` before reading, and
//! bounds bodies sent without one (chunked) while reading them.

use poem::http::StatusCode;
use poem::{Body, Endpoint, Middleware, Request};
use tokio::io::AsyncReadExt;

/// `strict` bytes at most under `prefix`, `relaxed` elsewhere.
pub struct BodyLimit {
    prefix: &'static str,
    strict: usize,
    relaxed: usize,
}

impl BodyLimit {
    pub fn new(prefix: &'static str, strict: usize, relaxed: usize) -> Self {
        Self {
            prefix,
            strict,
            relaxed,
        }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            prefix: self.prefix,
            strict: self.strict,
            relaxed: self.relaxed,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    prefix: &'static str,
    strict: usize,
    relaxed: usize,
}

fn too_large(max: usize) -> poem::Error {
    poem::Error::from_string(
        format!("the request body is larger than {max} bytes"),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut request: Request) -> poem::Result<Self::Output> {
        let max = if request.uri().path().starts_with(self.prefix) {
            self.strict
        } else {
            self.relaxed
        };
        let declared = request
            .headers()
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        match declared {
            Some(length) if length > max as u64 => return Err(too_large(max)),
            Some(_) => {}
            None => {
                let mut buffer = Vec::new();
                request
                    .take_body()
                    .into_async_read()
                    .take(max as u64 + 1)
                    .read_to_end(&mut buffer)
                    .await
                    .map_err(|error| {
                        poem::Error::from_string(
                            format!("cannot read the request body: {error}"),
                            StatusCode::BAD_REQUEST,
                        )
                    })?;
                if buffer.len() > max {
                    return Err(too_large(max));
                }
                request.set_body(Body::from(buffer));
            }
        }
        self.inner.call(request).await
    }
}
