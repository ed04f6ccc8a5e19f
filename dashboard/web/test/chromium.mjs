// Debian's chromium for the browser tests and benchmarks, through
// playwright-core (never a downloaded browser): CHROMIUM_WRAPPER (a script
// that runs it elsewhere, e.g. inside a network namespace), CHROMIUM, or
// /usr/bin/chromium, headless with software rendering and video autoplay.
import { chromium } from "playwright-core";

// WebRTC pages add these: no QUIC, and host candidates by address (mDNS
// names do not resolve between the test's namespaces).
export const WEBRTC_ARGS = ["--disable-quic", "--disable-features=WebRtcHideLocalIpsWithMdns"];

export async function launch(extraArgs = []) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_WRAPPER || process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--use-gl=swiftshader", "--enable-unsafe-swiftshader", "--autoplay-policy=no-user-gesture-required", ...extraArgs,
      // CHROMIUM_ARGS: more, space-separated (a pinned self-signed certificate: --ignore-certificate-errors-spki-list=…).
      ...(process.env.CHROMIUM_ARGS || "").split(" ").filter(Boolean)],
  });
  // fail prints why, closes the browser and exits non-zero.
  const fail = async (msg) => {
    console.error(msg);
    await browser.close();
    process.exit(1);
  };
  // Every page of every test fails the test when the browser refuses
  // something under smarteye's Content-Security-Policy: the pages must
  // work within it.
  const watch = (page) =>
    page.on("console", (m) => {
      if (m.type() === "error" && /Content Security Policy/i.test(m.text())) fail(`${page.url()}: ${m.text()}`);
    });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...a) => {
    const ctx = await newContext(...a);
    ctx.on("page", watch);
    return ctx;
  };
  const newPage = browser.newPage.bind(browser);
  browser.newPage = async (...a) => {
    const page = await newPage(...a);
    watch(page);
    return page;
  };
  return { browser, fail };
}
