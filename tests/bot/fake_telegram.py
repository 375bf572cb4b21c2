"""A fake Telegram Bot API server on 127.0.0.1, for running the real bot offline.

It speaks the Bot API's HTTP protocol (``/bot<token>/<method>``, form or JSON parameters,
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description"}``) for
the methods the bot uses, and rejects what Telegram rejects: malformed or unsupported
HTML, messages over 4096 characters after entity parsing, empty text, oversized callback
data. Tests inject updates (served by ``getUpdates`` long polling): messages, documents
(served by ``getFile`` and the file download path ``/file/bot<token>/<path>``), button
presses, inline queries, the bot being blocked; make chosen calls fail (429 with
``retry_after``, 502); and wait for what the bot sends. A chat that blocked the bot gets
403 Forbidden, as from Telegram.

HTML is parsed into text and entities the way Telegram's own parser (TDLib's
``parse_html`` and ``fix_formatted_text``) does: ``<blockquote expandable>`` gives an
``expandable_blockquote``, empty entities vanish, entities Telegram may not nest (a
blockquote in a blockquote, formatting inside code) are silently dropped, adjacent bold
runs merge, and the text is cleaned and trimmed. What Telegram drops is kept aside
(:attr:`Sent.dropped`), so that tests can insist that nothing was.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote

T = TypeVar("T")

BOT_ID = 777000111
BOT_USERNAME = "bulletin_qa_bot"
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "公报问答", "username": BOT_USERNAME}
MESSAGE_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
INLINE_RESULTS_LIMIT = 50
INLINE_ID_LIMIT = 64

# Tags Telegram's HTML parse mode accepts, with the attributes each may carry.
ALLOWED_TAGS: dict[str, set[str]] = {
    "b": set(),
    "strong": set(),
    "i": set(),
    "em": set(),
    "u": set(),
    "ins": set(),
    "s": set(),
    "strike": set(),
    "del": set(),
    "span": {"class"},
    "tg-spoiler": set(),
    "a": {"href"},
    "code": {"class"},
    "pre": set(),
    "blockquote": {"expandable"},
}
# The entity each tag makes (Bot API MessageEntity.type).
_TAG_ENTITIES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
# Entities that may nest in anything but code and pre, and merge when they touch.
_SPLITTABLE = {"bold", "italic", "underline", "strikethrough", "spoiler"}
_BLOCKQUOTES = {"blockquote", "expandable_blockquote"}
_CODE = {"code", "pre"}
# Telegram removes carriage returns, line and paragraph separators and bidi embeddings
# (U+2028–202E) from a text, and makes the other control characters but "\n" spaces.
_REMOVED = re.compile("[\r\u2028-\u202e]")
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_TAG = re.compile(
    r"<(/?)([A-Za-z][\w-]*)((?:\s+[\w-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>"
)
_ATTR = re.compile(r"([\w-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")
# Telegram supports all numeric entities and only these named ones.
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_COMMAND = re.compile(r"^/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?")
_MENTION = re.compile(r"@[A-Za-z0-9_]{5,32}")
_JSON_FIELDS = {
    "reply_markup",
    "reply_parameters",
    "commands",
    "allowed_updates",
    "link_preview_options",
    "entities",
    "scope",
    "results",
}
_INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "message_thread_id"}


class ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts text and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Entity:
    """A MessageEntity: a type over a span of the text, in UTF-16 code units."""

    type: str
    offset: int
    length: int

    @property
    def end(self) -> int:
        """Where the entity ends (exclusive)."""
        return self.offset + self.length

    def contains(self, other: Entity) -> bool:
        """Whether ``other`` lies within this entity."""
        return self.offset <= other.offset and other.end <= self.end

    def json(self) -> dict[str, Any]:
        """As the Bot API sends it."""
        return {"type": self.type, "offset": self.offset, "length": self.length}


@dataclass(frozen=True)
class Parsed:
    """A message text after entity parsing."""

    text: str
    entities: list[Entity]
    # Well-formed markup that Telegram nevertheless ignores (it breaks the nesting rules).
    dropped: list[Entity]


def _order(entity: Entity) -> tuple[int, int]:
    return entity.offset, -entity.length


def _tag_entity(name: str, attrs: str, offset: int) -> str:
    """The entity type a start tag opens; raises on attributes Telegram refuses."""
    kind = _TAG_ENTITIES[name]
    classes = []
    for attr, value in _ATTR.findall(attrs):
        if attr.lower() not in ALLOWED_TAGS[name]:
            raise ApiError(400, f"Bad Request: can't parse entities: unsupported attribute {attr}")
        # TDLib compares the attribute name as written: "Expandable" is ignored.
        if name == "blockquote" and attr == "expandable":
            kind = "expandable_blockquote"
        classes.append(value.strip("\"'"))
    if name == "span" and "tg-spoiler" not in classes:
        raise ApiError(
            400,
            'Bad Request: can\'t parse entities: tag "span" must have class "tg-spoiler" '
            f"at byte offset {offset}",
        )
    return kind


def _scan(text: str) -> tuple[str, list[Entity]]:
    """Text and entities as the HTML says, before Telegram's nesting rules.

    Raises:
        ApiError: 400, as Telegram answers for malformed or unsupported markup.
    """
    out: list[str] = []
    entities: list[Entity] = []
    stack: list[tuple[str, str, int]] = []  # tag, entity type, UTF-16 offset where it starts
    position = 0
    i = 0
    while i < len(text):
        ch = text[i]
        offset = len(text[:i].encode())
        if ch == "<":
            match = _TAG.match(text, i)
            if not match:
                raise ApiError(
                    400, f"Bad Request: can't parse entities: unclosed tag at byte offset {offset}"
                )
            closing, name, attrs = match.group(1), match.group(2).lower(), match.group(3)
            if name not in ALLOWED_TAGS:
                raise ApiError(
                    400,
                    f'Bad Request: can\'t parse entities: unsupported start tag "{name}" '
                    f"at byte offset {offset}",
                )
            if closing:
                if not stack or stack[-1][0] != name:
                    raise ApiError(
                        400,
                        f'Bad Request: can\'t parse entities: unexpected end tag "{name}" '
                        f"at byte offset {offset}",
                    )
                _, kind, begin = stack.pop()
                if position > begin:
                    same = entities and (entities[-1].offset, entities[-1].end) == (begin, position)
                    if kind == "pre" and same and entities[-1].type == "code":
                        entities.pop()  # <pre><code class="language-…">: one pre entity
                    entities.append(Entity(kind, begin, position - begin))
            else:
                stack.append((name, _tag_entity(name, attrs, offset), position))
            i = match.end()
        elif ch == "&":
            match = _ENTITY.match(text, i)
            if not match:
                raise ApiError(
                    400,
                    "Bad Request: can't parse entities: unsupported HTML entity "
                    f"at byte offset {offset}",
                )
            decoded = html.unescape(match.group())
            out.append(decoded)
            position += utf16_length(decoded)
            i = match.end()
        elif ch == ">":
            raise ApiError(
                400, f"Bad Request: can't parse entities: unexpected > at byte offset {offset}"
            )
        else:
            out.append(ch)
            position += utf16_length(ch)
            i += 1
    if stack:
        raise ApiError(
            400,
            "Bad Request: can't parse entities: can't find end tag corresponding to "
            f'start tag "{stack[-1][0]}"',
        )
    return "".join(out), sorted(entities, key=_order)


def _first_of_overlapping(entities: list[Entity]) -> tuple[list[Entity], list[Entity]]:
    """Keep each entity that starts after the previous kept one ends (TDLib's rule)."""
    kept: list[Entity] = []
    dropped: list[Entity] = []
    for entity in sorted(entities, key=_order):
        (dropped if kept and entity.offset < kept[-1].end else kept).append(entity)
    return kept, dropped


def _merged(entities: list[Entity]) -> list[Entity]:
    """Same-type formatting entities that overlap or touch, as one."""
    merged: list[Entity] = []
    for kind in sorted({e.type for e in entities}):
        current: Entity | None = None
        for entity in sorted((e for e in entities if e.type == kind), key=_order):
            if current is not None and entity.offset <= current.end:
                end = max(current.end, entity.end)
                current = Entity(kind, current.offset, end - current.offset)
                continue
            if current is not None:
                merged.append(current)
            current = entity
        if current is not None:
            merged.append(current)
    return merged


def _fix_entities(entities: list[Entity]) -> tuple[list[Entity], list[Entity]]:
    """Telegram's nesting rules: the entities it keeps, and the ones it drops.

    Blockquotes cannot nest or overlap; code, pre and links cannot contain one another
    and may sit inside a blockquote but not straddle one; formatting (bold, italic, …) may
    nest anywhere except inside code and pre, and touching runs of one kind merge.
    """
    quotes, dropped_quotes = _first_of_overlapping([e for e in entities if e.type in _BLOCKQUOTES])
    continuous, dropped = _first_of_overlapping(
        [e for e in entities if e.type not in _SPLITTABLE | _BLOCKQUOTES]
    )
    straddling = [
        e
        for e in continuous
        if any(e.offset < q.end and q.offset < e.end and not q.contains(e) for q in quotes)
    ]
    code = [e for e in continuous if e.type in _CODE]
    formatting = [e for e in entities if e.type in _SPLITTABLE]
    in_code = [e for e in formatting if any(c.contains(e) for c in code)]
    kept = (
        quotes
        + [e for e in continuous if e not in straddling]
        + _merged([e for e in formatting if e not in in_code])
    )
    return sorted(kept, key=_order), dropped_quotes + dropped + straddling + in_code


def _clean(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Telegram's cleaning: some characters removed, other control characters made spaces."""
    out: list[str] = []
    moved = {0: 0}  # UTF-16 offset before cleaning → after
    before = after = 0
    for ch in text:
        size = utf16_length(ch)
        before += size
        if not _REMOVED.match(ch):
            out.append(_CONTROL.sub(" ", ch))
            after += size
        moved[before] = after
    return "".join(out), [
        Entity(e.type, moved[e.offset], moved[e.end] - moved[e.offset])
        for e in entities
        if moved[e.end] > moved[e.offset]
    ]


def _trimmed(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trailing spaces and newlines cut, leading ones too up to the first entity (TDLib)."""
    end = utf16_length(text.rstrip(" \n"))
    entities = [
        Entity(e.type, e.offset, min(e.end, end) - e.offset) for e in entities if e.offset < end
    ]
    first = min((e.offset for e in entities), default=end)
    body = text.rstrip(" \n")
    lead = len(body) - len(body.lstrip(" \n"))
    lead = min(lead, first)  # spaces and newlines are one UTF-16 unit each
    return body[lead:], [Entity(e.type, e.offset - lead, e.length) for e in entities]


def parse_entities(text: str) -> Parsed:
    """A message in Telegram's HTML parse mode: its text and entities, as Telegram keeps them.

    The text is not yet cleaned or trimmed (see :func:`check_message`).

    Raises:
        ApiError: 400, as Telegram answers for malformed or unsupported markup.
    """
    visible, entities = _scan(text)
    kept, dropped = _fix_entities(entities)
    return Parsed(visible, kept, dropped)


def parse_html(text: str) -> str:
    """The text a reader sees of a message in Telegram's HTML parse mode.

    Raises:
        ApiError: 400, as Telegram answers for malformed or unsupported markup.
    """
    return _scan(text)[0]


def check_message(text: str | None, parse_mode: str | None) -> Parsed:
    """Validate a message text as Telegram does; return it as Telegram stores it.

    Raises:
        ApiError: 400 for bad markup, empty text or text over 4096 characters.
    """
    parsed = parse_entities(text or "") if parse_mode == "HTML" else Parsed(text or "", [], [])
    visible, entities = _trimmed(*_clean(parsed.text, parsed.entities))
    if not visible.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_length(visible) > MESSAGE_LIMIT:
        raise ApiError(400, "Bad Request: message is too long")
    return Parsed(visible, entities, parsed.dropped)


def check_text(text: str | None, parse_mode: str | None) -> str:
    """Validate a message text as Telegram does; return the visible text."""
    return check_message(text, parse_mode).text


def check_markup(markup: dict | None) -> None:
    """Validate an inline keyboard as Telegram does."""
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


@dataclass
class Call:
    """One request the bot made, and how it was answered."""

    method: str
    params: dict[str, Any]
    status: int
    result: Any = None


@dataclass
class Sent:
    """A message the bot sent (or edited), as the fake stored it."""

    message_id: int
    chat_id: int
    text: str
    html: str
    reply_markup: dict | None
    reply_to: int | None
    thread_id: int | None
    entities: list[Entity] = field(default_factory=list)
    dropped: list[Entity] = field(default_factory=list)
    edits: int = 0

    def shown(self) -> str:
        """The text a reader sees before unfolding anything: all but expandable blockquotes."""
        units = self.text.encode("utf-16-le")
        for entity in sorted(self.entities, key=lambda e: -e.offset):
            if entity.type == "expandable_blockquote":
                units = units[: 2 * entity.offset] + units[2 * entity.end :]
        return units.decode("utf-16-le")

    def folded(self) -> list[str]:
        """The texts of the expandable blockquotes, in order."""
        units = self.text.encode("utf-16-le")
        return [
            units[2 * e.offset : 2 * e.end].decode("utf-16-le")
            for e in self.entities
            if e.type == "expandable_blockquote"
        ]

    def buttons(self) -> list[dict]:
        """The inline buttons, row after row."""
        return [b for row in (self.reply_markup or {}).get("inline_keyboard", []) for b in row]

    def button(self, text: str) -> dict:
        """The button labelled ``text``."""
        return next(b for b in self.buttons() if b["text"] == text)


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None
    times: int


@dataclass
class FakeTelegram:
    """The fake server for one bot token; ``with FakeTelegram(token) as tg:`` runs it."""

    token: str
    calls: list[Call] = field(default_factory=list)
    webhook: dict[str, Any] | None = None
    _updates: list[dict] = field(default_factory=list)
    _messages: dict[tuple[int, int], Sent] = field(default_factory=dict)
    _failures: dict[str, list[_Failure]] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(1000))
    _closed: bool = False
    # Documents users sent, by file id; chats that blocked the bot; group administrators;
    # the file ids the bot downloaded.
    files: dict[str, bytes] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    group_admins: set[int] = field(default_factory=set)
    downloads: list[str] = field(default_factory=list)

    # -- running -------------------------------------------------------------------------

    def __enter__(self) -> FakeTelegram:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                fake._handle(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            # Many simultaneous connections when dozens of users ask at once.
            request_queue_size = 256

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give python-telegram-bot (it appends the token)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    # -- HTTP ----------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        download = re.fullmatch(r"/file/bot([^/]+)/documents/(\w+)", unquote(request.path))
        if download:
            self._download(request, *download.groups())
            return
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", request.path.split("?")[0])
        params = self._params(request.headers.get("Content-Type", ""), body)
        if not match:
            status, payload = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
            method = request.path
        else:
            token, method = match.groups()
            status, payload = self._dispatch(token, method, params)
        data = json.dumps(payload, ensure_ascii=False).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        # The bot may drop a long poll it no longer needs (at shutdown).
        with contextlib.suppress(ConnectionError):
            request.wfile.write(data)

    def _download(self, request: BaseHTTPRequestHandler, token: str, file_id: str) -> None:
        data = self.files.get(file_id) if token == self.token else None
        with self._cond:
            self.downloads.append(file_id)
            self._cond.notify_all()
        request.send_response(200 if data is not None else 404)
        request.send_header("Content-Length", str(len(data or b"")))
        request.end_headers()
        request.wfile.write(data or b"")

    @staticmethod
    def _params(content_type: str, body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        if content_type.startswith("application/json"):
            return json.loads(body)
        params: dict[str, Any] = {
            k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()
        }
        for key in _JSON_FIELDS & params.keys():
            params[key] = json.loads(params[key])
        for key in _INT_FIELDS & params.keys():
            params[key] = int(float(params[key]))
        return params

    def _dispatch(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict]:
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            self._maybe_fail(method)
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            result = handler(params)
        except ApiError as exc:
            self._record(Call(method, params, exc.code, exc.description))
            payload = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                payload["parameters"] = exc.parameters
            return exc.code, payload
        self._record(Call(method, params, 200, result))
        return 200, {"ok": True, "result": result}

    def _record(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    def _maybe_fail(self, method: str) -> None:
        with self._cond:
            queue = self._failures.get(method)
            if not queue:
                return
            failure = queue[0]
            failure.times -= 1
            if failure.times <= 0:
                queue.pop(0)
        parameters = {"retry_after": failure.retry_after} if failure.retry_after else None
        raise ApiError(failure.status, failure.description, parameters)

    # -- Bot API methods -----------------------------------------------------------------

    def _api_getMe(self, params: dict) -> dict:
        return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False}

    def _api_getUpdates(self, params: dict) -> list[dict]:
        offset = params.get("offset", 0)
        deadline = time.monotonic() + float(params.get("timeout", 0))
        with self._cond:
            # An offset confirms every update before it: Telegram forgets them.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._updates[: params.get("limit", 100)]

    def _api_deleteWebhook(self, params: dict) -> bool:
        self.webhook = None
        return True

    def _api_setWebhook(self, params: dict) -> bool:
        if not params.get("url", "").startswith(("https://", "http://127.0.0.1")):
            raise ApiError(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        self.webhook = params
        return True

    def _api_setMyCommands(self, params: dict) -> bool:
        for command in params.get("commands", []):
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        return True

    def _api_sendChatAction(self, params: dict) -> bool:
        if params.get("action") not in {"typing", "upload_document", "find_location"}:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _api_answerCallbackQuery(self, params: dict) -> bool:
        if len(params.get("text", "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _api_getFile(self, params: dict) -> dict:
        file_id = params.get("file_id", "")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(self.files[file_id]) > 20 * 1024 * 1024:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(self.files[file_id]),
            "file_path": f"documents/{file_id}",
        }

    def _api_getChatMember(self, params: dict) -> dict:
        user_id = int(params["user_id"])
        if user_id not in self.group_admins:
            return {"status": "member", "user": _user(user_id)}
        rights = (
            "can_be_edited",
            "is_anonymous",
            "can_manage_chat",
            "can_delete_messages",
            "can_manage_video_chats",
            "can_restrict_members",
            "can_promote_members",
            "can_change_info",
            "can_invite_users",
            "can_post_stories",
            "can_edit_stories",
            "can_delete_stories",
        )
        return {"status": "administrator", "user": _user(user_id)} | dict.fromkeys(rights, True)

    def _api_answerInlineQuery(self, params: dict) -> bool:
        results = params.get("results", [])
        if len(results) > INLINE_RESULTS_LIMIT:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        for result in results:
            if not 1 <= len(str(result.get("id", "")).encode()) <= INLINE_ID_LIMIT:
                raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
            if result.get("type") == "article" and not result.get("title"):
                raise ApiError(400, "Bad Request: RESULT_TITLE_EMPTY")
            content = result.get("input_message_content") or {}
            check_message(content.get("message_text"), content.get("parse_mode"))
            check_markup(result.get("reply_markup"))
        return True

    def _api_sendMessage(self, params: dict) -> dict:
        parsed = check_message(params.get("text"), params.get("parse_mode"))
        check_markup(params.get("reply_markup"))
        chat_id = params["chat_id"]
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        reply = params.get("reply_parameters") or {}
        sent = Sent(
            message_id=next(self._message_ids),
            chat_id=chat_id,
            text=parsed.text,
            html=params["text"],
            reply_markup=params.get("reply_markup"),
            reply_to=reply.get("message_id"),
            thread_id=params.get("message_thread_id"),
            entities=parsed.entities,
            dropped=parsed.dropped,
        )
        with self._cond:
            self._messages[(chat_id, sent.message_id)] = sent
        return self._message_json(sent)

    def _stored(self, params: dict) -> Sent:
        sent = self._messages.get((params.get("chat_id"), params.get("message_id")))
        if sent is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return sent

    def _api_editMessageText(self, params: dict) -> dict:
        sent = self._stored(params)
        parsed = check_message(params.get("text"), params.get("parse_mode"))
        check_markup(params.get("reply_markup"))
        if params["text"] == sent.html and params.get("reply_markup") == sent.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified")
        sent.text, sent.html, sent.reply_markup = (
            parsed.text,
            params["text"],
            params.get("reply_markup"),
        )
        sent.entities, sent.dropped = parsed.entities, parsed.dropped
        sent.edits += 1
        return self._message_json(sent)

    def _api_editMessageReplyMarkup(self, params: dict) -> dict:
        sent = self._stored(params)
        check_markup(params.get("reply_markup"))
        if params.get("reply_markup") == sent.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified")
        sent.reply_markup = params.get("reply_markup")
        sent.edits += 1
        return self._message_json(sent)

    def _message_json(self, sent: Sent) -> dict:
        message = {
            "message_id": sent.message_id,
            "from": BOT_USER,
            "chat": _chat(sent.chat_id),
            "date": int(time.time()),
            "text": sent.text,
        }
        if sent.entities:
            message["entities"] = [entity.json() for entity in sent.entities]
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        return message

    # -- what tests do -------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error."""
        with self._cond:
            self._failures.setdefault(method, []).append(
                _Failure(status, description, retry_after, times)
            )

    def _push(self, update: dict) -> dict:
        with self._cond:
            update = {"update_id": next(self._update_ids), **update}
            self._updates.append(update)
            self._cond.notify_all()
        return update

    def say(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to: Sent | None = None,
    ) -> dict:
        """A user writes ``text`` in a private chat (default) or in group ``chat_id``.

        Returns:
            The message as delivered to the bot.
        """
        chat_id = user_id if chat_id is None else chat_id
        entities = []
        if command := _COMMAND.match(text):
            entities.append({"type": "bot_command", "offset": 0, "length": command.end()})
        for mention in _MENTION.finditer(text):
            entities.append(
                {
                    "type": "mention",
                    "offset": utf16_length(text[: mention.start()]),
                    "length": utf16_length(mention.group()),
                }
            )
        message = self._message(user_id, chat_id, text=text)
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = self._message_json(reply_to)
        self._push({"message": message})
        return message

    def _message(self, user_id: int, chat_id: int, **content: Any) -> dict:
        """A new message from ``user_id`` in chat ``chat_id``, holding ``content``."""
        return {
            "message_id": next(self._message_ids),
            "from": _user(user_id),
            "chat": _chat(chat_id),
            "date": int(time.time()),
            **content,
        }

    def send_document(
        self,
        user_id: int,
        name: str,
        data: bytes,
        *,
        size: int | None = None,
        album: str | None = None,
    ) -> dict:
        """A user sends a file named ``name`` in their private chat.

        Args:
            user_id: The sender.
            name: The file name as the user's client sends it (any text).
            data: The content, served by ``getFile`` and the download path.
            size: The ``file_size`` Telegram announces (default: the content's).
            album: The ``media_group_id`` of files sent together.

        Returns:
            The message as delivered to the bot.
        """
        file_id = f"doc{next(self._message_ids)}"
        self.files[file_id] = data
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": name,
            "file_size": len(data) if size is None else size,
        }
        message = self._message(user_id, user_id, document=document)
        if album:
            message["media_group_id"] = album
        self._push({"message": message})
        return message

    def send_photo(self, user_id: int, width: int = 1280, height: int = 960) -> dict:
        """A user sends a photo (not a file) in their private chat: Telegram delivers it
        shrunk, in the sizes it made of it, the largest ``width`` by ``height``.

        Returns:
            The message as delivered to the bot.
        """
        sizes = [(width // scale, height // scale) for scale in (16, 4, 1)]
        photo = []
        for w, h in sizes:
            file_id = f"photo{next(self._message_ids)}"
            self.files[file_id] = b"\xff\xd8\xff"  # a JPEG's start: never to be downloaded
            photo.append(
                {
                    "file_id": file_id,
                    "file_unique_id": f"u{file_id}",
                    "width": w,
                    "height": h,
                    "file_size": w * h // 8,
                }
            )
        message = self._message(user_id, user_id, photo=photo)
        self._push({"message": message})
        return message

    def inline(self, user_id: int, query: str) -> str:
        """A user types ``@bot query`` in some chat.

        Returns:
            The inline query's id.
        """
        query_id = str(next(self._update_ids) * 7907)
        self._push(
            {
                "inline_query": {
                    "id": query_id,
                    "from": _user(user_id),
                    "query": query,
                    "offset": "",
                    "chat_type": "supergroup",
                }
            }
        )
        return query_id

    def block(self, chat_id: int) -> None:
        """The user of a private chat blocks the bot: ``my_chat_member``, and sends fail."""
        with self._cond:
            self.blocked.add(chat_id)
        self._push(
            {
                "my_chat_member": {
                    "chat": _chat(chat_id),
                    "from": _user(chat_id),
                    "date": int(time.time()),
                    "old_chat_member": {"status": "member", "user": BOT_USER},
                    "new_chat_member": {"status": "kicked", "user": BOT_USER, "until_date": 0},
                }
            }
        )

    def press(self, user_id: int, sent: Sent, button: str) -> str:
        """A user presses the inline button labelled ``button`` under ``sent``.

        Returns:
            The callback query's id.
        """
        query_id = str(next(self._update_ids) * 7919)
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": _user(user_id),
                    "message": self._message_json(sent),
                    "chat_instance": str(sent.chat_id),
                    "data": sent.button(button)["callback_data"],
                }
            }
        )
        return query_id

    def wait(self, predicate: Callable[[], T], timeout: float = 30) -> T:
        """Wait until ``predicate()`` is truthy (checked after each call); return its value.

        Raises:
            TimeoutError: Not within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (value := predicate()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out; calls so far: {[c.method for c in self.calls]}")
                self._cond.wait(remaining)
            return value

    def sent(self, chat_id: int) -> list[Sent]:
        """Messages the bot has sent to ``chat_id`` so far, in order."""
        with self._cond:
            return sorted(
                (m for (chat, _), m in self._messages.items() if chat == chat_id),
                key=lambda m: m.message_id,
            )

    def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 30) -> list[Sent]:
        """Wait until the bot has sent at least ``count`` messages to ``chat_id``."""
        return self.wait(lambda: (m := self.sent(chat_id)) and len(m) >= count and m, timeout)

    def calls_to(self, method: str) -> list[Call]:
        """The calls of ``method`` so far."""
        with self._cond:
            return [c for c in self.calls if c.method == method]


def _user(user_id: int) -> dict:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": f"读者{user_id}",
        "language_code": "zh-hans",
    }


def _chat(chat_id: int) -> dict:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"读者{chat_id}"}
    return {"id": chat_id, "type": "supergroup", "title": "读者群"}
