//! What the client sends and gets back: the API's own request and response types.

pub use crate::api::consumers::{ConsumerLag, ConsumerPosition as Position};
pub(crate) use crate::api::consumers::{ConsumerList, ConsumerRemoved};
pub use crate::api::messages::{
    MessageIn as OutMessage, MessageOut as Message, PublishResponse as Published,
    ReadResponse as ReadPage,
};
pub(crate) use crate::api::topics::TopicList;
pub use crate::api::topics::{RetentionJson as Retention, TopicInfo};
