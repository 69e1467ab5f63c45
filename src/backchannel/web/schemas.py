"""What crosses the wire for walls, and the view settings a wall page takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from backchannel.events.schemas import Hashtag
from backchannel.kit.clock import isoformat
from backchannel.kit.urls import safe_url
from backchannel.web.models import Layout, Theme, Wall

COLOUR_PATTERN = r"^#[0-9a-fA-F]{6}$"
MAX_WALL_TAGS = 50
#: Posts a wall keeps on the page at most; older ones leave as new ones come.
DEFAULT_WALL_POSTS = 30
MAX_WALL_POSTS = 100


def _logo(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    url = safe_url(value)
    if url is None:
        raise ValueError("must be an absolute http(s) URL")
    return url


Colour = Annotated[str, StringConstraints(pattern=COLOUR_PATTERN), AfterValidator(str.lower)]
WallName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
LogoUrl = Annotated[str | None, AfterValidator(_logo)]


class WallCreate(BaseModel):
    """A wall of an event: a screen in a room, shown with its own filter and look."""

    model_config = ConfigDict(extra="forbid")

    name: WallName
    #: Only posts carrying one of these tags (a room's session tags); empty: every post.
    tags: list[Hashtag] = Field(default_factory=list, max_length=MAX_WALL_TAGS)
    layout: Layout = Layout.COLUMNS
    theme: Theme = Theme.DARK
    accent: Colour | None = None
    background: Colour | None = None
    logo_url: LogoUrl = None


class WallUpdate(BaseModel):
    """PATCH: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    name: WallName | None = None
    tags: list[Hashtag] | None = Field(default=None, max_length=MAX_WALL_TAGS)
    layout: Layout | None = None
    theme: Theme | None = None
    accent: Colour | None = None
    background: Colour | None = None
    logo_url: LogoUrl = None


def wall_json(wall: Wall, event_slug: str) -> dict[str, Any]:
    return {
        "id": str(wall.id),
        "event": event_slug,
        "name": wall.name,
        "tags": list(wall.tags),
        "layout": wall.layout,
        "theme": wall.theme,
        "accent": wall.accent,
        "background": wall.background,
        "logo_url": wall.logo_url,
        "url": f"/walls/{wall.id}",
        "created_at": isoformat(wall.created_at),
        "updated_at": isoformat(wall.updated_at),
    }


@dataclass(frozen=True, slots=True)
class WallView:
    """How one wall page is shown: its stored settings, overridden by the query."""

    name: str = ""
    tags: tuple[str, ...] = ()
    layout: Layout = Layout.COLUMNS
    theme: Theme = Theme.DARK
    accent: str | None = None
    background: str | None = None
    logo_url: str | None = None
    max_posts: int = DEFAULT_WALL_POSTS

    @classmethod
    def of(cls, wall: Wall) -> WallView:
        return cls(
            name=wall.name,
            tags=tuple(wall.tags),
            layout=Layout(wall.layout),
            theme=Theme(wall.theme),
            accent=wall.accent,
            background=wall.background,
            logo_url=wall.logo_url,
        )
