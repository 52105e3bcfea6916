// Drives chromium (headless) through the dashboard: log in with the one-time link, see the
// apps, restart one and see its pid change, see its new log line arrive without a reload.
// Saves screenshots (laptop and phone width) into the output directory and prints their paths.
import { chromium } from "playwright-core";
import path from "node:path";

const [url, outDir] = process.argv.slice(2);
const timeout = 15000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });

  // The link sets the session cookie and redirects to the dashboard.
  const response = await page.goto(url, { waitUntil: "domcontentloaded" });
  if (new URL(page.url()).pathname !== "/") throw new Error("login did not land on /: " + page.url());
  if (!response.ok()) throw new Error("dashboard answered " + response.status());
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "tend_session");
  if (!session || !session.httpOnly || session.sameSite !== "Strict")
    throw new Error("no HttpOnly SameSite=Strict session cookie: " + JSON.stringify(cookies));

  const row = 'tr[data-app="web"]';
  await page.waitForSelector(`${row} td.pid`, { timeout });
  await page.waitForSelector('tr[data-app="worker"]', { timeout });
  await page.waitForFunction((r) => /^\d+$/.test(document.querySelector(`${r} td.pid`).textContent),
                             row, { timeout });
  const before = (await page.textContent(`${row} td.pid`)).trim();
  console.log(`web runs as pid ${before}`);
  // Marks this page load: a reload would lose it.
  await page.evaluate(() => { window.__sameLoad = true; });

  // The log pane of the selected app (the first one) shows its start line.
  await page.click(`${row} td.name`);
  await page.waitForFunction((pid) => document.querySelector("#log").textContent
                                 .includes(`testapp started pid=${pid}`), before, { timeout });

  await page.click(`${row} button[data-action="restart"]`);
  await page.waitForFunction(([r, old]) => {
    const t = document.querySelector(`${r} td.pid`)?.textContent.trim();
    return t && /^\d+$/.test(t) && t !== old;
  }, [row, before], { timeout });
  const after = (await page.textContent(`${row} td.pid`)).trim();
  console.log(`after restart: pid ${after}`);
  await page.waitForFunction((pid) => document.querySelector("#log").textContent
                                 .includes(`testapp started pid=${pid}`), after, { timeout });
  console.log("the new log line arrived");
  await page.waitForSelector(".toast", { timeout });  // "web: restart done"
  if (!(await page.evaluate(() => window.__sameLoad === true)))
    throw new Error("the page was reloaded");
  const status = (await page.textContent(`${row} .status`)).trim();
  if (status !== "online") throw new Error("web is " + status + " after the restart");

  const laptop = path.join(outDir, "dashboard.png");
  await page.screenshot({ path: laptop, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(100);
  // On a phone the table becomes cards: no horizontal scrolling.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 2) throw new Error(`the page is ${overflow}px wider than a phone`);
  const phone = path.join(outDir, "dashboard-phone.png");
  await page.screenshot({ path: phone, fullPage: true });
  if (problems.length) throw new Error(problems.join("\n"));
  console.log(`screenshot: ${laptop}`);
  console.log(`screenshot: ${phone}`);
} catch (e) {
  failed = true;
  console.error("dashboard test failed: " + (e && e.stack ? e.stack : e));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
