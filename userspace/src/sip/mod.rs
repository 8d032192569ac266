//! SIP: message parsing, SDP bodies, dialog and registration tracking.

pub mod dialog;
pub mod message;
pub mod sdp;
