//! [`AuthLayer`]: tower middleware for tonic and axum servers that lets a
//! request through only with a valid `Authorization: Bearer` token.
//!
//! The header is read by the server's own rules (`authd_token::bearer`:
//! exactly one header, the scheme spelled `Bearer`, JWT characters only),
//! the token checked by the [`Verifier`], and the [`Principal`] put in the
//! request extensions (`request.extensions().get::<Principal>()` in a tonic
//! handler, `Extension<Principal>` in axum). Otherwise the request never
//! reaches the service: a gRPC request (content type `application/grpc...`)
//! gets a trailers-only answer with `UNAUTHENTICATED` (no, bad or revoked
//! token) or `UNAVAILABLE` (the verifier cannot vouch for its state); any
//! other request gets 401 with `WWW-Authenticate: Bearer
//! error="invalid_token"` or 503 with `Retry-After: 1`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::verifier::{Principal, Verdict, Verifier};

/// Wraps a service in [`RequireToken`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    verifier: Verifier,
}

impl AuthLayer {
    /// A layer that checks every request's bearer token with `verifier`.
    #[must_use]
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = RequireToken<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireToken {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service [`AuthLayer`] makes.
#[derive(Debug, Clone)]
pub struct RequireToken<S> {
    inner: S,
    verifier: Verifier,
}

/// Why a request was turned away.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// No usable token (the text says why).
    Unauthenticated(&'static str),
    /// The verifier is unavailable.
    Unavailable,
}

const GRPC_UNAUTHENTICATED: &str = "16";
const GRPC_UNAVAILABLE: &str = "14";

impl Refusal {
    fn response<B: Default>(self, grpc: bool) -> Response<B> {
        let mut response = Response::new(B::default());
        let (message, grpc_code, http_status) = match self {
            Self::Unauthenticated(why) => (why, GRPC_UNAUTHENTICATED, StatusCode::UNAUTHORIZED),
            Self::Unavailable => (
                "the token cannot be checked now: the local verifier has lost authd's \
                 revocation stream; retry shortly",
                GRPC_UNAVAILABLE,
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        };
        if !grpc {
            *response.status_mut() = http_status;
        }
        let headers = response.headers_mut();
        if grpc {
            // A trailers-only answer: HTTP 200, the status in the headers.
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            headers.insert("grpc-status", HeaderValue::from_static(grpc_code));
            headers.insert("grpc-message", HeaderValue::from_static(message));
        } else {
            match self {
                Self::Unauthenticated(_) => {
                    headers.insert(
                        WWW_AUTHENTICATE,
                        HeaderValue::from_static(authd_token::bearer::CHALLENGE),
                    );
                }
                Self::Unavailable => {
                    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
                }
            }
        }
        response
    }
}

/// What the reasons read like to a caller (all printable ASCII, so they
/// travel as `grpc-message` unescaped).
fn unauthenticated(verdict: Result<Verdict, crate::Unavailable>) -> Result<Principal, Refusal> {
    match verdict {
        Ok(Verdict::Valid(principal)) => Ok(principal),
        Ok(Verdict::Invalid(reason)) => Err(Refusal::Unauthenticated(reason.describe())),
        Err(_) => Err(Refusal::Unavailable),
    }
}

impl<S, B, ResBody> Service<Request<B>> for RequireToken<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let grpc = request
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        let values = request.headers().get_all(AUTHORIZATION);
        let checked =
            authd_token::bearer::from_authorization(values.iter().map(HeaderValue::as_bytes))
                .map_err(|_| {
                    Refusal::Unauthenticated(
                        "this call needs the header `authorization: Bearer <access token>`",
                    )
                })
                .and_then(|token| unauthenticated(self.verifier.verify(token)));
        match checked {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                ResponseFuture::inner(self.inner.call(request))
            }
            Err(refusal) => ResponseFuture::refused(refusal.response(grpc)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`RequireToken`]: the inner service's, or a refusal.
    #[derive(Debug)]
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[derive(Debug)]
    #[project = KindProjection]
    enum Kind<F, B> {
        Inner { #[pin] future: F },
        // Taken on the first poll.
        Refused { response: Option<Response<B>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    fn refused(response: Response<B>) -> Self {
        Self {
            kind: Kind::Refused {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProjection::Inner { future } => future.poll(cx),
            KindProjection::Refused { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_default()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Clock;
    use std::convert::Infallible;
    use std::time::Duration;
    use tower::ServiceExt as _;

    fn request(grpc: bool) -> Request<String> {
        let mut request = Request::builder().header(AUTHORIZATION, "Bearer a.b.c");
        if grpc {
            request = request.header(CONTENT_TYPE, "application/grpc+proto");
        }
        request.body(String::new()).unwrap()
    }

    #[tokio::test]
    async fn an_unavailable_verifier_answers_503_or_grpc_unavailable_and_never_calls_through() {
        let (verifier, _feed) = Verifier::offline(Clock::system(), Duration::from_secs(3));
        let inner = tower::service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new("reached".to_owned()))
        });
        let service = AuthLayer::new(verifier).layer(inner);
        let http = service.clone().oneshot(request(false)).await.unwrap();
        assert_eq!(http.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(http.headers()[RETRY_AFTER], "1");
        assert!(http.body().is_empty());
        let grpc = service.oneshot(request(true)).await.unwrap();
        assert_eq!(grpc.status(), StatusCode::OK);
        assert_eq!(grpc.headers()["grpc-status"], GRPC_UNAVAILABLE);
        assert!(grpc.body().is_empty());
    }
}
