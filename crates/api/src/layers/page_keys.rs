//! Puts the page-token key and the RPC's path into every request, so the handler kit can bind
//! the page tokens it issues and accepts to the server's secret, the RPC and the caller.
use crate::kit::PageKeys;
use cityserve_domain::PageKey;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A tower layer adding `PageKeys` to each request's extensions.
#[derive(Clone)]
pub struct PageKeyLayer {
    key: Arc<PageKey>,
}

impl PageKeyLayer {
    /// A layer whose page tokens are authenticated with `key` (derive it from the server's
    /// secret: replicas sharing the secret accept each other's tokens).
    pub fn new(key: PageKey) -> Self {
        Self { key: Arc::new(key) }
    }
}

impl<S> tower::Layer<S> for PageKeyLayer {
    type Service = PageKeyService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        PageKeyService { inner, key: self.key.clone() }
    }
}

/// The service produced by [`PageKeyLayer`].
#[derive(Clone)]
pub struct PageKeyService<S> {
    inner: S,
    key: Arc<PageKey>,
}

impl<S, B> tower::Service<http::Request<B>> for PageKeyService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The path shares the URI's bytes: no copy per request.
        let keys = PageKeys { key: self.key.clone(), rpc: req.uri().path_and_query().cloned() };
        req.extensions_mut().insert(keys);
        self.inner.call(req)
    }
}
