//! Listing operations: one page at a time, a stream of pages or of operations, or all at
//! once.

use futures_core::Stream;

use super::call::{Call, Rpc};
use crate::OperationsClient;
use crate::transport::{GrpcTransport, Transport};
use crate::{Error, pb};

/// A pending `ListOperations` call; see [`OperationsClient::list_operations`].
#[must_use]
pub struct ListOperations<T = Transport> {
    client: OperationsClient<T>,
    request: pb::ListOperationsRequest,
}

/// One page of `ListOperations`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    /// The operations on this page.
    pub operations: Vec<pb::Operation>,
    /// The token of the next page; empty on the last page.
    pub next_page_token: String,
    /// Resources the server could not reach (with `return_partial_success`).
    pub unreachable: Vec<String>,
}

/// Every operation of a listing, and every unreachable resource reported on any page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing {
    /// The operations, in the server's order.
    pub operations: Vec<pb::Operation>,
    /// Resources the server could not reach.
    pub unreachable: Vec<String>,
}

impl<T: GrpcTransport> ListOperations<T> {
    pub(crate) fn new(client: OperationsClient<T>, parent: String) -> Self {
        Self {
            client,
            request: pb::ListOperationsRequest {
                name: parent,
                ..Default::default()
            },
        }
    }

    /// A filter in the server's syntax, e.g. `done=true`. Default: none.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.request.filter = filter.into();
        self
    }

    /// The most operations per page; 0 lets the server choose. Default: 0.
    pub fn page_size(mut self, size: i32) -> Self {
        self.request.page_size = size;
        self
    }

    /// Asks the server to return what it can reach and list the rest in `unreachable`.
    /// Default: false (not sent).
    pub fn return_partial_success(mut self, partial: bool) -> Self {
        self.request.return_partial_success = partial;
        self
    }

    /// Fetches one page; pass `""` for the first, then each page's `next_page_token`.
    pub fn page(&self, page_token: impl Into<String>) -> Call<Page> {
        if self.request.page_size < 0 {
            let error = Error::invalid_argument(&self.request.name, "page_size is negative");
            return Call::ready(Err(error.with_method(pb::ListOperationsRequest::METHOD)));
        }
        let mut request = self.request.clone();
        request.page_token = page_token.into();
        let name = request.name.clone();
        let call = self.client.call(&name, move |_| request.clone());
        Call::new(async move {
            let response = call.await?;
            Ok(Page {
                operations: response.operations,
                next_page_token: response.next_page_token,
                unreachable: response.unreachable,
            })
        })
    }

    /// Every page in order, following `next_page_token` until it is empty.
    pub fn pages(self) -> impl Stream<Item = Result<Page, Error>> + Send + 'static {
        futures_util::stream::try_unfold(Some((self, String::new())), |state| async move {
            let Some((list, token)) = state else {
                return Ok(None);
            };
            let page = list.page(token).await?;
            let next =
                (!page.next_page_token.is_empty()).then(|| (list, page.next_page_token.clone()));
            Ok(Some((page, next)))
        })
    }

    /// Every operation in order, across pages.
    pub fn stream(self) -> impl Stream<Item = Result<pb::Operation, Error>> + Send + 'static {
        use futures_util::{StreamExt, TryStreamExt};
        self.pages()
            .map_ok(|page| futures_util::stream::iter(page.operations.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// Reads pages until the end or until `max` operations are collected, keeping every
    /// unreachable resource reported on the way.
    pub async fn collect(self, max: Option<usize>) -> Result<Listing, Error> {
        use futures_util::TryStreamExt;
        let mut listing = Listing::default();
        let mut pages = std::pin::pin!(self.pages());
        while let Some(page) = pages.try_next().await? {
            listing.unreachable.extend(page.unreachable);
            listing.operations.extend(page.operations);
            if let Some(max) = max
                && listing.operations.len() >= max
            {
                listing.operations.truncate(max);
                break;
            }
        }
        Ok(listing)
    }
}
