// Shared helpers of the browser tests: Debian's chromium through playwright-core, the local Teams
// client (Microsoft 365 Agents Playground), screenshots, and one JSON line per event on stdout
// (tests/test_browser_e2e.py reads them).
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const EDITOR = '[data-lexical-editor="true"][role="textbox"]';
const CARD = '.ac-adaptiveCard';

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function options() {
  const raw = process.argv[2];
  if (!raw) throw new Error('usage: node <scenario>.js \'{"url": "...", "out": "..."}\'');
  return JSON.parse(raw);
}

async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

// A page of the playground as the current user (Ada Admin); page errors become events.
async function openPlayground(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(20000);
  page.on('pageerror', (e) => emit({ event: 'pageerror', message: String(e).slice(0, 500) }));
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await page.locator(EDITOR).waitFor();
  return page;
}

// Screenshots are numbered in the order taken: NN-name.png.
function camera(page, dir) {
  fs.mkdirSync(dir, { recursive: true });
  let n = 0;
  return async (name, locator) => {
    n += 1;
    const file = path.join(dir, `${String(n).padStart(2, '0')}-${name}.png`);
    if (locator) await locator.scrollIntoViewIfNeeded().catch(() => {});
    await page.waitForTimeout(250); // let the card finish its layout
    await page.screenshot({ path: file });
    return file;
  };
}

// Waits until `locator` (one card) shows every string in `texts`; returns its text.
async function waitForText(page, locator, texts, timeout = 30000) {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    last = await locator.innerText({ timeout: 1000 }).catch(() => '');
    if (texts.every((t) => last.includes(t))) return last;
    await page.waitForTimeout(200);
  }
  throw new Error(`waited ${timeout / 1000} s for ${JSON.stringify(texts)}; the card shows:\n${last}`);
}

// An input of a card found as a person finds it, by its label (the renderer ties each input to its
// label with aria-labelledby; a required input's label ends with " *"). The input ids of the card are
// not in the page: the renderer gives each input a generated id. Accessible names have their white
// space (the French no-break space before a colon too) made single spaces: any white space matches.
function field(card, label) {
  const pattern = label
    .trim()
    .split(/\s+/)
    .map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('\\s+');
  return card.getByRole('textbox', { name: new RegExp(`^\\s*${pattern}`) });
}

// What a person can fill in on a card: each visible text box with its label, placeholder, value and
// the most characters it takes (-1: no limit).
async function fields(card) {
  return card.locator('input[type="text"], input:not([type]), textarea').evaluateAll((all) =>
    all
      .filter((el) => el.offsetParent !== null && el.getAttribute('role') !== 'combobox')
      .map((el) => ({
        label: (el.getAttribute('aria-labelledby') || '')
          .split(' ')
          .map((id) => document.getElementById(id))
          .filter(Boolean)
          .map((label) => label.innerText.trim())
          .join(' '),
        placeholder: el.getAttribute('placeholder') || '',
        value: el.value,
        maxLength: el.maxLength,
        multiline: el.tagName === 'TEXTAREA',
      })),
  );
}

async function typeMessage(page, text) {
  const box = page.locator(EDITOR);
  await box.click();
  await box.type(text);
  await box.press('Enter');
}

// Runs a scenario: every step's event on stdout, a screenshot of the page on failure.
async function scenario(run) {
  const opts = options();
  const browser = await launch();
  let page;
  try {
    page = await openPlayground(browser, opts.url);
    await run(page, camera(page, opts.out), opts);
    emit({ event: 'finished' });
  } catch (error) {
    let shot;
    if (page) {
      shot = path.join(opts.out, 'failure.png');
      await page.screenshot({ path: shot, fullPage: false }).catch(() => {});
    }
    emit({ event: 'failed', message: String(error && error.stack ? error.stack : error), shot });
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

module.exports = {
  CARD, EDITOR, emit, field, fields, launch, scenario, typeMessage, waitForText, CHROMIUM, CHROMIUM_ARGS,
};
