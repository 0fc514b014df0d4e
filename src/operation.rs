//! Reading an [`Operation`] without touching `Any` by hand.

use prost_types::Any;

use crate::Error;
use crate::pb::rpc::Status;
use crate::pb::{Operation, operation, type_name};

/// `google.rpc.Code.CANCELLED`.
const CANCELLED: i32 = 1;

impl Operation {
    /// Whether the operation has finished (successfully, with an error, or cancelled).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The outcome: `None` while running (or if a done operation carries no result),
    /// `Some(Ok(response))` on success, `Some(Err(status))` on failure or cancellation.
    pub fn result(&self) -> Option<Result<&Any, &Status>> {
        if !self.done {
            return None;
        }
        match self.result.as_ref()? {
            operation::Result::Response(any) => Some(Ok(any)),
            operation::Result::Error(status) => Some(Err(status)),
        }
    }

    /// The error, if the operation is done and failed (cancellation included).
    pub fn error(&self) -> Option<&Status> {
        self.result()?.err()
    }

    /// Whether the operation is done with error code 1 (`CANCELLED`): cancellation succeeded.
    /// The operation is kept (not deleted) by the server.
    pub fn is_cancelled(&self) -> bool {
        self.error().is_some_and(|s| s.code == CANCELLED)
    }

    /// Decodes the response as `T`. `Ok(None)` while there is no response (running or
    /// failed); an error if the response's type URL is not `T`'s or its bytes do not decode.
    ///
    /// ```
    /// use longrunning_grpc::pb::{Operation, operation};
    /// use longrunning_grpc::prost_types::{Any, Duration, Timestamp};
    ///
    /// let op = Operation {
    ///     name: "operations/1".into(),
    ///     done: true,
    ///     result: Some(operation::Result::Response(Any::from_msg(&Duration { seconds: 3, nanos: 0 })?)),
    ///     ..Default::default()
    /// };
    /// assert_eq!(op.response_as::<Duration>()?.unwrap().seconds, 3);
    /// assert!(op.response_as::<Timestamp>().unwrap_err().is_decode());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn response_as<T: prost::Name + Default>(&self) -> Result<Option<T>, Error> {
        match self.result() {
            Some(Ok(any)) => unpack(any, "response", &self.name).map(Some),
            _ => Ok(None),
        }
    }

    /// Decodes the metadata as `T`. `Ok(None)` when there is none; an error if its type URL is
    /// not `T`'s or its bytes do not decode.
    pub fn metadata_as<T: prost::Name + Default>(&self) -> Result<Option<T>, Error> {
        match &self.metadata {
            Some(any) => unpack(any, "metadata", &self.name).map(Some),
            None => Ok(None),
        }
    }
}

/// `any` as `T`: its type URL must name `T`, except that `T = Any` takes any type as it is.
pub(crate) fn unpack<T: prost::Name + Default>(
    any: &Any,
    what: &str,
    name: &str,
) -> Result<T, Error> {
    if T::full_name() == <Any as prost::Name>::full_name() {
        return T::decode(prost::Message::encode_to_vec(any).as_slice())
            .map_err(|e| Error::decode(format!("{what} is malformed: {e}")).with_name(name));
    }
    if type_name(&any.type_url) != T::full_name() {
        return Err(Error::decode(format!(
            "{what} is {:?}, expected {:?}",
            any.type_url,
            T::type_url()
        ))
        .with_name(name));
    }
    any.to_msg::<T>().map_err(|e| {
        Error::decode(format!(
            "{what} of type {:?} is malformed: {e}",
            any.type_url
        ))
        .with_name(name)
    })
}
