"""Runbook pages: library and search, runbook page, history and diff, upload."""

from __future__ import annotations

from collections import Counter
from html import unescape
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils.html import strip_tags

from runbooks.importer import MAX_BYTES, import_runbook
from runbooks.models import Proposal, Runbook, RunbookVersion, Scenario
from runbooks.parser import parse_runbook
from runbooks.render import code_block, diff_lines, inline, render_tree, step_urls
from runbooks.steps import checklist_steps
from tests.conftest import HTMX, client_for
from tests.runbooks.test_parser import SAMPLES, SEED_FILES, needs_seeds

SAMPLE = SAMPLES / "console-sample.md"

# A runbook that tries to smuggle markup in, and a code block that must survive to the byte.
HOSTILE = """# Hostile runbook

Intro with <script>alert("inline")</script> and <img src=x onerror="alert(1)"> and
a [bad link](javascript:alert(2)) and a [good link](https://example.com/a?b=1&c=2).

<script>alert("block")</script>

## Payments down (P1)

**Symptoms:**
- Checkout returns `502 <Bad Gateway>`

**Diagnosis:**
1. Look at the queue:
   ```sh

   redis-cli -h "$HOST" llen 'jobs:<default>' && echo "a & b"\t
   printf '%s\\n' "tabs\tand trailing spaces   "
   ```

**Resolution:**

**If the worker is down**:
1. Restart it: `systemctl restart worker`

**If the queue is stuck**:
- [x] Drain the dead letters
- [ ] Tell support

| Signal | Threshold |
|---|---|
| queue length | > **1000** |
"""
HOSTILE_CODE = (
    "\n"
    'redis-cli -h "$HOST" llen \'jobs:<default>\' && echo "a & b"\t\n'
    "printf '%s\\n' \"tabs\tand trailing spaces   \"\n"
)


class CodeText(HTMLParser):
    """The text of every <pre> on a page: what a reader (and the copy button) gets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.ids: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id":
                self.ids.append(value)
        if tag == "pre":
            self._depth += 1
            self.blocks.append("")

    def handle_endtag(self, tag):
        if tag == "pre":
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.blocks[-1] += data


def page_text(content: bytes) -> CodeText:
    parser = CodeText()
    parser.feed(content.decode())
    return parser


@pytest.fixture
def sample(db, lead) -> RunbookVersion:
    return import_runbook(SAMPLE.read_bytes(), filename=SAMPLE.name, by=lead).version


@pytest.fixture
def two_versions(sample) -> tuple[RunbookVersion, RunbookVersion]:
    changed = SAMPLE.read_text().replace(
        "1. Restart the Redis service if it is down.",
        "1. Restart the Redis service if it is down: `systemctl restart redis`.",
    )
    changed = changed.replace("2. Watch `max_connections` headroom for ten minutes.\n", "")
    newer = import_runbook(changed.encode(), filename=SAMPLE.name).version
    return sample, newer


def import_seeds() -> list[RunbookVersion]:
    return [import_runbook(p.read_bytes(), filename=p.name).version for p in SEED_FILES]


# -- Permissions, URL by URL ----------------------------------------------------------------

READ_URLS = [
    "/runbooks/",
    "/runbooks/?q=redis",
    "/runbooks/console-sample/",
    "/runbooks/console-sample/v/1/",
    "/runbooks/console-sample/versions/",
    "/runbooks/console-sample/diff/1/2/",
]
UPLOAD_URL = "/runbooks/upload/"


@pytest.mark.parametrize("url", [*READ_URLS, UPLOAD_URL])
def test_anonymous_is_sent_to_log_in(client, two_versions, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("url", [*READ_URLS, UPLOAD_URL])
def test_outsider_is_refused(outsider, two_versions, url):
    assert client_for(outsider).get(url).status_code == 403


@pytest.mark.parametrize("url", READ_URLS)
@pytest.mark.parametrize("role", ["responder", "lead", "manager"])
def test_responder_and_up_read(request, two_versions, url, role):
    user = request.getfixturevalue(role)
    assert client_for(user).get(url).status_code == 200


def test_responder_may_not_upload(responder, db):
    client = client_for(responder)
    assert client.get(UPLOAD_URL).status_code == 403
    upload = SimpleUploadedFile("x.md", b"# X\n")
    assert client.post(UPLOAD_URL, {"file": upload}).status_code == 403
    assert not Runbook.objects.exists()


@pytest.mark.parametrize("role", ["lead", "manager"])
def test_lead_and_up_may_upload(request, db, role):
    client = client_for(request.getfixturevalue(role))
    assert client.get(UPLOAD_URL).status_code == 200
    response = client.post(UPLOAD_URL, {"file": SimpleUploadedFile("x.md", b"# X\n\nText.\n")})
    assert response.status_code == 302
    assert Runbook.objects.filter(slug="x").exists()


def test_anonymous_upload_post_stores_nothing(client, db):
    response = client.post(UPLOAD_URL, {"file": SimpleUploadedFile("x.md", b"# X\n")})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not Runbook.objects.exists()


@pytest.mark.parametrize("url", READ_URLS)
def test_read_pages_refuse_writes(responder, two_versions, url):
    client = client_for(responder)
    assert client.post(url).status_code == 405
    assert client.delete(url).status_code == 405


def test_upload_refuses_other_methods(lead, db):
    client = client_for(lead)
    assert client.put(UPLOAD_URL).status_code == 405
    assert client.delete(UPLOAD_URL).status_code == 405


def test_upload_checks_csrf(lead, db):
    # The view is csrf_exempt on the outside only so that the size limit is in place before
    # the body is read; the token is still required.
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    response = client.post(UPLOAD_URL, {"file": SimpleUploadedFile("x.md", b"# X\n")})
    assert response.status_code == 403
    assert not Runbook.objects.exists()


def test_unknown_runbooks_and_versions_are_404(responder, sample):
    client = client_for(responder)
    assert client.get("/runbooks/nope/").status_code == 404
    assert client.get("/runbooks/console-sample/v/9/").status_code == 404
    assert client.get("/runbooks/nope/versions/").status_code == 404
    assert client.get("/runbooks/console-sample/diff/1/9/").status_code == 404
    assert client.get("/runbooks/console-sample/diff/9/1/").status_code == 404


# -- Query counts ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["one", "all"])
def test_library_queries_do_not_grow(responder_client, sample, size, django_assert_num_queries):
    if size == "all":
        if not SEED_FILES:
            pytest.skip("../shared/seeds is not here")
        import_seeds()
    expected = 1 + (len(SEED_FILES) if size == "all" else 0)
    # session, user, user permissions, group permissions, runbooks with their current
    # version and scenario/procedure counts (one grouped query)
    with django_assert_num_queries(5):
        response = responder_client.get("/runbooks/")
    assert response.status_code == 200
    assert len(response.context["runbooks"]) == expected
    # the same plus the search itself
    with django_assert_num_queries(5):
        response = responder_client.get("/runbooks/?q=redis", **HTMX)
    assert response.status_code == 200
    with django_assert_num_queries(6):
        response = responder_client.get("/runbooks/?q=redis")
    assert response.status_code == 200


@pytest.mark.parametrize("size", ["sample", "largest seed"])
def test_runbook_page_queries_do_not_grow(
    responder_client, sample, size, django_assert_num_queries
):
    version = sample
    if size == "largest seed":
        if not SEED_FILES:
            pytest.skip("../shared/seeds is not here")
        version = max(import_seeds(), key=lambda v: len(v.source))
    slug = version.runbook.slug
    # session, user, user permissions, group permissions, the runbook with its current
    # version and who imported it (one join), the version's proposals
    with django_assert_num_queries(6):
        response = responder_client.get(f"/runbooks/{slug}/")
    assert response.status_code == 200
    # the version by number with its runbook, the runbook's current version number and who
    # imported it (one join), the proposals
    with django_assert_num_queries(6):
        response = responder_client.get(f"/runbooks/{slug}/v/{version.number}/")
    assert response.status_code == 200
    # session, user, permissions (2), the runbook, its versions with scenario counts
    with django_assert_num_queries(6):
        response = responder_client.get(f"/runbooks/{slug}/versions/")
    assert response.status_code == 200


# -- Library and search ---------------------------------------------------------------------


def test_library_lists_runbooks_with_counts_and_warnings(responder_client, sample):
    seeds = import_seeds()
    response = responder_client.get("/runbooks/")
    rows = {r.slug: r for r in response.context["runbooks"]}
    assert rows["console-sample"].scenario_count == 2
    assert rows["console-sample"].procedure_count == 1
    content = response.content.decode()
    assert "Sample runbook — web stack" in content and "console-sample.md" in content
    assert 'name="q"' in content and 'hx-get="/runbooks/"' in content
    for version in seeds:
        row = rows[version.runbook.slug]
        assert row.scenario_count == version.scenarios.filter(kind="scenario").count()
        assert row.procedure_count == version.scenarios.filter(kind="procedure").count()
    if any(v.warnings for v in seeds):
        assert "mojibake repaired" in content


@needs_seeds
def test_search_ranks_the_best_match_first(responder_client, db):
    import_seeds()
    response = responder_client.get("/runbooks/?q=redis+connection")
    results = response.context["results"]
    assert results, "nothing found"
    assert results[0].scenario.title == "Redis Connection Issues"
    assert all(r.rank <= results[0].rank for r in results)
    content = response.content.decode()
    assert f'href="{results[0].scenario.get_absolute_url()}"' in content
    assert "<mark>" in content


def test_search_is_live_with_htmx_and_plain_without(responder_client, sample):
    fragment = responder_client.get("/runbooks/?q=redis", **HTMX)
    body = fragment.content.decode()
    assert fragment.status_code == 200
    assert body.lstrip().startswith('<section id="search-results"')
    assert "<html" not in body
    assert "Redis unavailable" in body
    assert 'class="sev-badge sev-p1"' in body and "rb-kind-scenario" in body
    assert "/runbooks/console-sample/v/1/#2-redis-unavailable" in body
    page = responder_client.get("/runbooks/?q=redis").content.decode()
    assert "<html" in page and "Redis unavailable" in page


def test_search_needs_every_word_and_finds_step_text(responder_client, sample):
    def titles(query: str) -> list[str]:
        response = responder_client.get("/runbooks/", {"q": query})
        return [r.scenario.title for r in response.context["results"]]

    assert titles("idle transaction") == ["PostgreSQL connections exhausted"]
    assert titles("max_connections") == ["PostgreSQL connections exhausted"]
    assert titles("rollback deploy") == ["Roll back a deploy"]
    assert titles("redis rollback") == []
    assert titles("   ") == []


def test_search_sees_only_current_versions(responder_client, two_versions):
    response = responder_client.get("/runbooks/?q=systemctl")
    [result] = response.context["results"]
    assert result.scenario.version == two_versions[1]
    assert result.scenario.get_absolute_url().startswith("/runbooks/console-sample/v/2/")


def test_search_escapes_what_the_runbook_says(responder_client, lead):
    import_runbook(HOSTILE.encode(), filename="hostile.md", by=lead)
    body = responder_client.get("/runbooks/?q=checkout", **HTMX).content.decode()
    assert "Payments down" in body
    assert "&lt;Bad Gateway&gt;" in body and "<Bad Gateway>" not in body


# -- The runbook page -------------------------------------------------------------------------


def test_runbook_page_shows_structure(responder_client, sample):
    response = responder_client.get("/runbooks/console-sample/")
    content = response.content.decode()
    # Contents link to every scenario and procedure, which carry their anchors as ids.
    for scenario in Scenario.objects.filter(version=sample):
        assert f'href="#{scenario.anchor}"' in content
        assert f'id="{scenario.anchor}"' in content
    assert 'class="rb-kind rb-kind-procedure"' in content
    assert '<span class="sev-badge sev-p0">P0</span>' in content
    # Branches are open, collapsible, with the condition as their summary.
    assert '<details class="rb-branch" id="if-one-client-holds-most-connections" open>' in content
    assert '<summary><span class="rb-if">If</span> one client holds most connections' in content
    # Inline Markdown is rendered.
    assert "<code>redis-cli -h $REDIS_HOST ping</code>" in content
    # Proposals in the side panel with a summary of what they hold.
    assert "Comms template" in content and "Fields: [service], [start], X%" in content
    assert "Proposed" in content
    ids = page_text(response.content).ids
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]


def test_runbook_page_escapes_raw_html_and_keeps_code_exact(responder_client, lead):
    import_runbook(HOSTILE.encode(), filename="hostile.md", by=lead)
    response = responder_client.get("/runbooks/hostile/")
    content = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert" not in content
    assert "onerror" not in content
    assert "<img" not in content
    assert 'href="javascript' not in content
    # The HTML block is shown as text.
    assert "<pre>&lt;script&gt;alert(&quot;block&quot;)&lt;/script&gt;\n</pre>" in content
    assert 'href="https://example.com/a?b=1&amp;c=2"' in content
    # The code block, read back from the page, is the runbook's text to the byte.
    assert HOSTILE_CODE in page_text(response.content).blocks
    # Checklists show as disabled checkboxes, ticked as written.
    assert '<input type="checkbox" disabled checked> <span>Drain the dead letters</span>' in content
    assert '<input type="checkbox" disabled> <span>Tell support</span>' in content
    assert "<td>&gt; <strong>1000</strong></td>" in content


def test_inline_markup_is_sanitised():
    html = str(render_tree(parse_runbook(HOSTILE, "hostile")[0]).intro)
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer">' in html


@needs_seeds
def test_every_seed_code_block_is_rendered_byte_exact(db):
    for path in SEED_FILES:
        tree, _ = parse_runbook(path.read_text(encoding="utf-8"), path.stem)
        blocks: list[dict] = []

        def collect(node: dict, blocks: list[dict] = blocks) -> None:
            for block in node["blocks"]:
                if block["type"] == "code":
                    blocks.append(block)
            for step in node["steps"]:
                blocks.extend(step["code"])
            for child in node["children"]:
                collect(child)

        collect(tree)
        for block in blocks:
            [text] = page_text(str(code_block(block)).encode()).blocks
            assert text == block["content"], path.name


@needs_seeds
def test_seed_pages_render_with_unique_ids(responder_client, db):
    for version in import_seeds():
        response = responder_client.get(version.runbook.get_absolute_url())
        assert response.status_code == 200
        parsed = page_text(response.content)
        assert len(parsed.ids) == len(set(parsed.ids)), version.filename
        for scenario in version.scenarios.all():
            assert f'id="{scenario.anchor}"' in response.content.decode()
        if version.warnings:
            assert "mojibake repaired" in response.content.decode()
            assert version.warnings[0]["examples"][0] in response.content.decode()


def test_old_version_page_says_so_and_links_the_diff(responder_client, two_versions):
    content = responder_client.get("/runbooks/console-sample/v/1/").content.decode()
    assert "This is version 1" in content
    assert 'href="/runbooks/console-sample/diff/1/2/"' in content
    current = responder_client.get("/runbooks/console-sample/").content.decode()
    assert "This is version 1" not in current and "systemctl restart redis" in current
    assert two_versions[1].get_absolute_url() == "/runbooks/console-sample/v/2/"


def test_proposal_status_is_shown(responder_client, sample, lead):
    Proposal.objects.filter(version=sample).update(status=Proposal.Status.DISMISSED)
    content = responder_client.get("/runbooks/console-sample/").content.decode()
    assert "Dismissed" in content and "Proposed</span>" not in content


# -- History and diff -------------------------------------------------------------------------


def test_history_lists_versions(responder_client, two_versions, lead):
    response = responder_client.get("/runbooks/console-sample/versions/")
    history = list(response.context["history"])
    assert [v.number for v in history] == [2, 1]
    assert history[1].imported_by == lead and history[1].scenario_count == 3
    content = response.content.decode()
    assert 'href="/runbooks/console-sample/diff/1/2/"' in content
    assert "console-sample.md" in content


def test_compare_form_redirects_to_the_diff(responder_client, two_versions):
    response = responder_client.get("/runbooks/console-sample/versions/?a=2&b=1")
    assert response.status_code == 302
    assert response["Location"] == "/runbooks/console-sample/diff/2/1/"


def test_diff_shows_added_and_removed_lines(responder_client, two_versions):
    response = responder_client.get("/runbooks/console-sample/diff/1/2/")
    content = response.content.decode()
    assert response.context["added"] == 1 and response.context["removed"] == 2
    assert (
        '<tr class="rb-diff-del"><td class="rb-diff-no">54</td><td class="rb-diff-no"></td>'
        in content
    )
    assert "1. Restart the Redis service if it is down." in content
    assert "1. Restart the Redis service if it is down: `systemctl restart redis`." in content
    assert '<tr class="rb-diff-add">' in content
    assert "2. Watch `max_connections` headroom for ten minutes." in content
    same = responder_client.get("/runbooks/console-sample/diff/2/2/")
    assert same.status_code == 200 and "the same text" in same.content.decode()


def test_diff_lines_number_both_sides():
    lines = diff_lines("a\nb\nc\n", "a\nB\nc\nd\n")
    assert [(line.kind, line.old, line.new, line.text) for line in lines] == [
        ("hunk", None, None, "@@ -1,3 +1,4 @@"),
        ("context", 1, 1, "a"),
        ("del", 2, None, "b"),
        ("add", None, 2, "B"),
        ("context", 3, 3, "c"),
        ("add", None, 4, "d"),
    ]
    assert [line.kind for line in diff_lines("", "x\n")] == ["hunk", "add"]
    assert diff_lines("same\n", "same\n") == []


# -- Upload -----------------------------------------------------------------------------------


def upload(client: Client, name: str, data: bytes):
    return client.post(UPLOAD_URL, {"file": SimpleUploadedFile(name, data)}, follow=True)


def test_upload_imports_then_recognises_then_versions(lead_client, lead):
    response = upload(lead_client, "console-sample.md", SAMPLE.read_bytes())
    version = RunbookVersion.objects.get()
    assert response.redirect_chain == [("/runbooks/console-sample/v/1/", 302)]
    assert version.imported_by == lead and version.filename == "console-sample.md"
    assert "Sample runbook — web stack v1 imported" in response.content.decode()

    response = upload(lead_client, "console-sample.md", SAMPLE.read_bytes())
    assert response.redirect_chain == [("/runbooks/console-sample/v/1/", 302)]
    assert "unchanged: same as v1" in response.content.decode()
    assert RunbookVersion.objects.count() == 1

    changed = SAMPLE.read_bytes() + b"\n## Notes\n\nAdded after the review.\n"
    response = upload(lead_client, "console-sample.md", changed)
    assert response.redirect_chain == [("/runbooks/console-sample/v/2/", 302)]
    assert "v2 imported" in response.content.decode()
    assert Runbook.objects.get().current_version.number == 2


def test_upload_over_the_limit_is_413_and_stores_nothing(lead_client):
    data = b"# Big\n\n" + b"x" * MAX_BYTES
    response = lead_client.post(UPLOAD_URL, {"file": SimpleUploadedFile("big.md", data)})
    assert response.status_code == 413
    content = response.content.decode()
    assert 'class="field-error"' in content and "larger than 1,048,576 bytes" in content
    assert not Runbook.objects.exists() and not RunbookVersion.objects.exists()


def test_upload_at_the_limit_is_accepted(lead_client):
    data = b"# Big\n\n" + b"x" * (MAX_BYTES - 7)
    assert len(data) == MAX_BYTES
    response = lead_client.post(UPLOAD_URL, {"file": SimpleUploadedFile("big.md", data)})
    assert response.status_code == 302
    assert RunbookVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("# Café\n".encode("latin-1"), "not UTF-8"),
        (b"# Binary\n\x00\x01\x02", "not text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not text"),
    ],
)
def test_upload_of_non_text_is_400_and_stores_nothing(lead_client, sample, data, message):
    response = lead_client.post(UPLOAD_URL, {"file": SimpleUploadedFile("bad.md", data)})
    assert response.status_code == 400
    content = response.content.decode()
    assert message in content and 'role="alert"' in content
    assert RunbookVersion.objects.count() == 1 and Runbook.objects.count() == 1


def test_upload_without_a_file_is_400(lead_client):
    response = lead_client.post(UPLOAD_URL, {})
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()
    empty = lead_client.post(UPLOAD_URL, {"file": SimpleUploadedFile("e.md", b"")})
    assert empty.status_code == 400
    assert not Runbook.objects.exists()


def test_size_limit_stops_reading_the_upload(rf):
    from runbooks.views import RunbookSizeLimit

    data = b"# Huge\n" + b"x" * (3 * MAX_BYTES)
    request = rf.post(UPLOAD_URL, {"file": SimpleUploadedFile("huge.md", data)})
    limit = RunbookSizeLimit(request)
    request.upload_handlers.insert(0, limit)
    # Nothing past the limit is kept: no file reaches the view, in memory or on disk.
    assert "file" not in request.FILES
    assert limit.too_large and limit.received <= MAX_BYTES + 64 * 1024


# -- Step anchors: links to one step of a scenario ---------------------------------------------

VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class ElementText(HTMLParser):
    """The tag and text of the element with a given id (and how many elements have it)."""

    def __init__(self, element_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.element_id = element_id
        self.found = 0
        self.tag = ""
        self.text = ""
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        if self._depth:
            if tag not in VOID:
                self._depth += 1
        elif ("id", self.element_id) in attrs:
            self.found += 1
            self.tag = tag
            self._depth = 1 if tag not in VOID else 0

    def handle_endtag(self, tag):
        if self._depth and tag not in VOID:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.text += data


def element(content: str, element_id: str) -> ElementText:
    parser = ElementText(element_id)
    parser.feed(content)
    return parser


def words(html_or_text: str) -> str:
    return " ".join(unescape(strip_tags(html_or_text)).split())


@needs_seeds
def test_every_checklist_step_of_every_seed_has_its_anchor_on_the_page(responder_client, db):
    """A checklist step (StepRun.position) links to `<scenario>--step-<n>` on its runbook
    version's page; that element is the step (its list item, or the code block it runs)."""
    checked = 0
    for version in import_seeds():
        content = responder_client.get(version.get_absolute_url()).content.decode()
        ids = page_text(content.encode()).ids
        assert len(ids) == len(set(ids)), version.filename
        for scenario in version.scenarios.select_related("version"):
            url_of = step_urls(scenario)
            for position, step in enumerate(checklist_steps(scenario.node)):
                url = url_of(position)
                assert url.startswith(version.get_absolute_url() + "#")
                found = element(content, url.split("#", 1)[1])
                assert found.found == 1, (version.filename, scenario.title, position)
                text = words(found.text)
                if step["text"] == "Run:" and step["code"]:
                    assert found.tag == "div"
                    assert words(step["code"][0]["content"])[:40] in text
                else:
                    assert found.tag in ("li", "span")
                    assert words(str(inline(step["text"])))[:60] in text or found.tag == "span"
                checked += 1
    assert checked > 50
    print(f"\n{checked} checklist steps of the seeds linked to their own anchor")


def test_step_anchor_is_the_scenario_anchor_and_position(sample):
    scenario = sample.scenarios.first()
    assert step_urls(scenario)(0) == f"{sample.get_absolute_url()}#{scenario.anchor}--step-1"
