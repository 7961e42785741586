"""The page at `/` in a real browser: Playwright's Python package driving Debian's Chromium
(/usr/bin/chromium, installed by manage_all.sh's ensure_chromium; never Playwright's own
download) against stacks started here, as a person uses the shop: in header mode the whole
journey (an account, a top-up, an order paid and one cancelled for lack of funds, followed
live, the balance after each), an error as the API words it, one form by keyboard only, a
phone-sized screen; in JWT mode with a pasted token. Screenshots go to the test's temporary
folder (docs/images/shop.png is one of them)."""

import re
import secrets
import shutil
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.stack import start_stack, stop_stack

CHROMIUM = "/usr/bin/chromium"
# This machine's network is closed: no GPU, QUIC, first-run, background or update traffic.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
JWT_SECRET = secrets.token_urlsafe(48)
PHONE = {"width": 375, "height": 740}
# A status change takes a fraction of a second; allow for a busy machine.
LIVE_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """Chromium with a fresh profile of its own."""
    assert shutil.which(CHROMIUM), (
        f"{CHROMIUM} is missing: apt-get install chromium (as root, manage_all.sh test does)"
    )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1000, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture
def screenshots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


class Shop:
    """The page, as a person sees it, with what the browser reported while it ran."""

    def __init__(self, page: Page, base_url: str):
        self.page, self.base_url = page, base_url
        self.problems: list[str] = []  # console errors, CSP violations, uncaught exceptions
        self.requests: list[str] = []
        self.answers: list[tuple[str, int]] = []  # (URL, status) of the API's answers
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("response", lambda response: self.answers.append((response.url, response.status)))
        page.goto(base_url + "/")

    def _console(self, message):
        # Chromium logs every 4xx and 5xx answer ("Failed to load resource"): the page
        # expects some (no account yet, a refused token) and shows them itself.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(message.text)

    def use_user(self, user: str):
        self.page.get_by_label("Your user id").fill(user)
        self.page.get_by_role("button", name="Use this id").click()
        expect(self.page.locator("#shop")).to_be_visible()

    def balance(self):
        return expect(self.page.locator("#balance"))

    def top_up(self, amount: str):
        self.page.get_by_label("Top up by (amount)").fill(amount)
        self.page.get_by_role("button", name="Top up").click()

    def order(self, amount: str, description: str):
        self.page.get_by_label("Amount", exact=True).fill(amount)
        self.page.get_by_label("Description").fill(description)
        self.page.get_by_role("button", name="Place the order").click()

    def order_item(self, description: str):
        return self.page.locator("#orders li", has_text=description)


def low_contrast_texts(page: Page) -> list[str]:
    """Visible texts whose colour is below 4.5:1 against their background (WCAG's contrast
    ratio; the page's backgrounds are plain colours)."""
    return page.evaluate(
        r"""() => {
            const rgb = (color) => color.match(/[\d.]+/g).map(Number);
            const luminance = ([r, g, b]) => {
                const linear = (c) =>
                    (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
                return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
            };
            const background = (element) => {
                for (; element; element = element.parentElement) {
                    const color = rgb(getComputedStyle(element).backgroundColor);
                    if (color.length < 4 || color[3] > 0) return color;
                }
                return [255, 255, 255];
            };
            const low = [];
            for (const element of document.querySelectorAll("body *")) {
                const text = [...element.childNodes]
                    .filter((node) => node.nodeType === Node.TEXT_NODE)
                    .map((node) => node.textContent.trim())
                    .join("");
                if (!text || !element.checkVisibility()) continue;
                if (element.closest(".visually-hidden")) continue;
                const a = luminance(rgb(getComputedStyle(element).color));
                const b = luminance(background(element));
                const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
                if (ratio < 4.5) low.push(`${text} (${ratio.toFixed(2)})`);
            }
            return low;
        }"""
    )


@pytest.fixture
def shop(browser_context, stack):
    page = browser_context.new_page()
    yield Shop(page, stack.gateway_url)
    page.close()


def test_the_page_as_the_gateway_serves_it(stack):
    """Through gunicorn and WhiteNoise, as deployed: the policy, HEAD, 405, the assets."""
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        page, head = client.get("/"), client.head("/")
        refused = client.post("/")
        assets = [
            client.get(url) for url in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
        ]

    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self';")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Content-Length"] == str(len(page.content))
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "GET, HEAD"
    assert refused.json()["type"] == "urn:problem:method-not-allowed"
    assert len(assets) == 3
    for asset in assets:  # hashed names from the collection's manifest, cached for long
        assert asset.status_code == 200, asset.url
        assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", asset.url.path)
        assert "immutable" in asset.headers["Cache-Control"]


def test_the_whole_journey_followed_live(shop, screenshots):
    page = shop.page
    shop.use_user(f"browser-{uuid.uuid4()}")
    shop.balance().to_have_text("no account yet")

    page.get_by_role("button", name="Open an account").click()
    shop.balance().to_have_text("0.00")
    shop.top_up("50")
    shop.balance().to_have_text("50.00")

    shop.order("30", "Two coffees")
    paid = shop.order_item("Two coffees")
    expect(paid).to_have_attribute("data-status", "FINISHED", timeout=LIVE_TIMEOUT_MS)
    expect(paid.locator(".status")).to_have_text("FINISHED")
    shop.balance().to_have_text("20.00")  # updated after the terminal status, not reloaded
    expect(page.locator("#announcer")).to_contain_text('"Two coffees" (30.00): FINISHED')

    shop.order("25", "A cake too many")
    refused = shop.order_item("A cake too many")
    expect(refused).to_have_attribute("data-status", "CANCELLED", timeout=LIVE_TIMEOUT_MS)
    expect(refused.locator(".status")).to_have_text("CANCELLED (insufficient funds)")
    expect(page.locator("#announcer")).to_contain_text("CANCELLED (insufficient funds)")
    shop.balance().to_have_text("20.00")
    page.screenshot(path=screenshots / "journey.png", full_page=True)
    assert low_contrast_texts(page) == []

    # Followed over the orders' event streams, not by polling.
    streams = [url for url in shop.requests if url.endswith("/events")]
    assert len(streams) >= 2, shop.requests
    assert not [url for url in shop.requests if "wait=" in url], shop.answers
    assert shop.problems == []


def test_an_error_is_shown_as_the_api_words_it(shop):
    page = shop.page
    shop.use_user(f"browser-{uuid.uuid4()}")
    page.get_by_role("button", name="Open an account").click()
    shop.balance().to_have_text("0.00")

    shop.top_up("1.234")

    error = page.locator("#account-error")
    expect(error).to_contain_text("Bad Request: One or more fields are invalid.")
    expect(error).to_contain_text("amount: ")
    expect(error).to_have_attribute("role", "alert")
    expect(page.get_by_label("Top up by (amount)")).to_have_attribute("aria-invalid", "true")
    shop.balance().to_have_text("0.00")
    # The API's own words, as it answers the same request.
    answer = page.request.post(
        shop.base_url + "/accounts/deposit",
        headers={"X-User-Id": "someone", "Content-Type": "application/json"},
        data='{"amount": "1.234"}',
    ).json()
    expect(error).to_contain_text(answer["errors"]["amount"][0])

    page.get_by_role("button", name="Open an account").click()  # a second time: 409
    expect(error).to_contain_text("Account already exists: User browser-")


def test_a_form_by_keyboard_only(shop):
    page = shop.page
    shop.use_user(f"browser-{uuid.uuid4()}")
    page.get_by_role("button", name="Open an account").click()
    shop.balance().to_have_text("0.00")

    page.get_by_role("button", name="Open an account").focus()
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_attribute("id", "deposit-amount")
    outline = focused.evaluate("element => getComputedStyle(element).outlineStyle")
    assert outline != "none", "the focus is not visible"
    page.keyboard.type("12.50")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Top up")
    page.keyboard.press("Enter")
    shop.balance().to_have_text("12.50")
    expect(page.locator("#announcer")).to_contain_text("the balance is 12.50")


def test_a_phone_sized_screen(shop, screenshots):
    page = shop.page
    page.set_viewport_size(PHONE)
    shop.use_user(f"browser-{uuid.uuid4()}")
    page.get_by_role("button", name="Open an account").click()
    shop.top_up("40")
    shop.balance().to_have_text("40.00")
    shop.order("15.50", "A sandwich with a rather long description that has to wrap")
    item = shop.order_item("A sandwich")
    expect(item).to_have_attribute("data-status", "FINISHED", timeout=LIVE_TIMEOUT_MS)
    shop.balance().to_have_text("24.50")

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width} px)"
    for control in page.locator("input, textarea, button").all():
        box = control.bounding_box()
        if box:  # visible
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= PHONE["width"]
    page.screenshot(path=screenshots / "phone.png", full_page=True)
    assert shop.problems == []


def test_the_long_poll_when_the_stream_fails(shop):
    page = shop.page
    page.route("**/events", lambda route: route.abort())  # a proxy that cuts event streams
    shop.use_user(f"browser-{uuid.uuid4()}")
    page.get_by_role("button", name="Open an account").click()
    shop.top_up("5")
    shop.balance().to_have_text("5.00")

    shop.order("3", "Followed by long-polls")
    item = shop.order_item("Followed by long-polls")
    expect(item).to_have_attribute("data-status", "FINISHED", timeout=LIVE_TIMEOUT_MS)
    shop.balance().to_have_text("2.00")
    assert any("wait=25" in url for url in shop.requests), shop.requests


def test_the_sse_parser(shop):
    """window.shopSse, the page's reader of event streams, fed as a network would."""
    events = shop.page.evaluate(
        r"""() => {
            const seen = [];
            const parser = window.shopSse.createParser((event) => seen.push(event));
            const chunks = [
                ": a comment\n", "id: NEW\nevent: status\ndata: {\"status\"", ": \"NEW\"}\r",
                "\n\r\n",                      // CRLF split between chunks, then a blank line
                "event: status\rdata:first\rdata: second\r\r",   // CR only; data joined
                "data: no type\n\n",             // "message", the last id kept
                "id\nevent: status\n\n",        // no data: nothing; the id reset to ""
                "data: late\n\ndata: incomplete",
            ];
            chunks.forEach((chunk) => parser.feed(chunk));
            return seen;
        }"""
    )

    assert events == [
        {"type": "status", "data": '{"status": "NEW"}', "id": "NEW"},
        {"type": "status", "data": "first\nsecond", "id": "NEW"},
        {"type": "message", "data": "no type", "id": "NEW"},
        {"type": "message", "data": "late", "id": ""},
    ]


@pytest.fixture(scope="module")
def jwt_stack(tmp_path_factory):
    stack = start_stack(
        tmp_path_factory.mktemp("browser-jwt"), GATEWAY_AUTH="jwt", GATEWAY_JWT_SECRET=JWT_SECRET
    )
    yield stack
    stop_stack(stack)


def test_jwt_mode_with_a_pasted_token(browser_context, jwt_stack):
    user = f"jwt-browser-{uuid.uuid4()}"
    minted = jwt_stack.manage("gateway", "mint_token", user, "--minutes", "10")
    assert minted.returncode == 0, minted.stderr
    page = browser_context.new_page()
    shop = Shop(page, jwt_stack.gateway_url)
    expect(page.get_by_label("Your user id")).to_have_count(0)

    token_field = page.get_by_label("Your token (JWT)")
    token_field.fill(minted.stdout.strip() + "x")  # a bad signature: the gateway's 401
    page.get_by_role("button", name="Use this token").click()
    expect(page.locator("#identity-error")).to_contain_text(
        "Unauthorized: The token's signature does not verify."
    )
    expect(page.locator("#shop")).to_be_hidden()

    token_field.fill(minted.stdout.strip())
    page.get_by_role("button", name="Use this token").click()
    page.get_by_role("button", name="Open an account").click()
    expect(page.locator("#identity")).to_have_text(f"You are user {user}.")
    shop.top_up("10")
    shop.balance().to_have_text("10.00")
    shop.order("4", "Tea")
    item = shop.order_item("Tea")
    expect(item).to_have_attribute("data-status", "FINISHED", timeout=LIVE_TIMEOUT_MS)
    shop.balance().to_have_text("6.00")
    assert any(url.endswith("/events") for url in shop.requests)
    assert shop.problems == []
    page.close()
