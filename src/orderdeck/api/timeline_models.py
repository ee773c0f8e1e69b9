"""Response shapes of the events routes, for the OpenAPI document (the routes answer with
orjson directly; these describe that answer in Shopify's 2024-10 wire format)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class EventOut(BaseModel):
    id: int
    subject_id: int = Field(description="The order's id")
    created_at: str
    updated_at: str | None
    subject_type: str = Field(description='"Order": Orderdeck records events of orders')
    verb: str
    arguments: list[Any] = Field(description="The event's values as JSON (strings, numbers, lists), in order")
    body: str | None = Field(description="A comment's text; null for other events")
    message: str = Field(description="The sentence, HTML-escaped, locations by name")
    author: str
    author_type: str = Field(description="staff, api, customer or system (an Orderdeck addition)")
    description: str = Field(description="The sentence as plain text, locations by name")
    path: str
    is_comment: bool
    subject_record_id: int | None = Field(description="The transaction, fulfillment, … the event is about")


class EventsOut(BaseModel):
    events: list[EventOut]


class EventEnvelopeOut(BaseModel):
    event: EventOut


class EventCount(BaseModel):
    count: int
