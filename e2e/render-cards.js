// Renders Adaptive Cards with the official JavaScript renderer (npm adaptivecards, dist build) in
// headless chromium at Teams' light host config, and reports every parse, validation and render
// problem. One JSON line per card on stdout; a screenshot per card (and per expanded ShowCard).
//
//   node render-cards.js '{"cards": "<file with {name: card}>", "out": "<dir>"}'
'use strict';
const fs = require('fs');
const path = require('path');
const { emit, launch } = require('./lib');

const HERE = __dirname;
const RENDERER = path.join(HERE, 'node_modules', 'adaptivecards', 'dist', 'adaptivecards.min.js');
const RENDERER_CSS = path.join(HERE, 'node_modules', 'adaptivecards', 'dist', 'adaptivecards.css');
const HOST_CONFIG = path.join(HERE, 'teams-light-hostconfig.json');
const THEME_CSS = path.join(HERE, 'teams-theme.css');

// Runs in the page: the Teams subset of markdown for TextBlocks (bold, italic, links, lists,
// paragraphs), as the host's markdown processor; the renderer has none of its own.
function installMarkdown() {
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const inline = (s) =>
    esc(s)
      .replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')
      .replace(/(^|[\s(])_([^_]+?)_(?=[\s).,:;!?]|$)/g, '$1<em>$2</em>')
      .replace(/\[([^\]]+)\]\((https?:[^)\s]+)\)/g, '<a href="$2">$1</a>');
  const block = (b) => {
    const lines = b.split('\n').filter((l) => l.trim() !== '');
    if (lines.length && lines.every((l) => /^\s*[-*] /.test(l))) {
      return '<ul>' + lines.map((l) => '<li>' + inline(l.replace(/^\s*[-*] /, '')) + '</li>').join('') + '</ul>';
    }
    if (lines.length && lines.every((l) => /^\s*\d+\. /.test(l))) {
      return '<ol>' + lines.map((l) => '<li>' + inline(l.replace(/^\s*\d+\. /, '')) + '</li>').join('') + '</ol>';
    }
    return '<p>' + inline(lines.join(' ')) + '</p>';
  };
  window.AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
    result.outputHtml = text.split(/\n{2,}/).map(block).join('');
    result.didProcess = true;
  };
}

// Runs in the page: parse (with a 1.5 serialization context), validate, render; returns problems.
function renderCard({ name, json, hostConfig }) {
  const AC = window.AdaptiveCards;
  const phases = ['Parse', 'ToJSON', 'Validation'];
  const describe = (e) => ({
    phase: phases[e.phase] || String(e.phase),
    event: AC.ValidationEvent[e.event] || String(e.event),
    message: e.message,
  });
  const problems = [];
  const card = new AC.AdaptiveCard();
  card.hostConfig = new AC.HostConfig(hostConfig);
  const context = new AC.SerializationContext(AC.Versions.v1_5);
  card.parse(json, context);
  for (let i = 0; i < context.eventCount; i++) problems.push(describe(context.getEventAt(i)));
  const results = card.validateProperties();
  for (const e of results.validationEvents) problems.push(describe(e));
  const frame = document.getElementById('frame');
  frame.innerHTML = '';
  const message = document.createElement('div');
  message.className = 'message';
  message.id = 'card-' + name;
  frame.appendChild(message);
  let element;
  try {
    element = card.render();
  } catch (error) {
    problems.push({ phase: 'Render', event: 'Exception', message: String(error) });
  }
  if (!element) {
    problems.push({ phase: 'Render', event: 'NothingRendered', message: 'render() returned nothing' });
    return { problems, buttons: [], wanted: [], showCards: [] };
  }
  message.appendChild(element);
  const buttons = [...element.querySelectorAll('button.ac-pushButton')].map((b) => b.textContent.trim());
  const wanted = [];
  const walk = (node) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node.actions)) node.actions.forEach((a) => a.title && wanted.push(a.title));
    for (const [k, v] of Object.entries(node)) if (k !== 'fallback' && k !== 'refresh') walk(v);
  };
  walk(json);
  if (element.getBoundingClientRect().height < 20) {
    problems.push({ phase: 'Render', event: 'Empty', message: 'the rendered card has no height' });
  }
  const showCards = (json.actions || []).filter((a) => a.type === 'Action.ShowCard').map((a) => a.title);
  return { problems, buttons, wanted, showCards };
}

(async () => {
  const opts = JSON.parse(process.argv[2] || '{}');
  const cards = JSON.parse(fs.readFileSync(opts.cards, 'utf8'));
  const hostConfig = JSON.parse(fs.readFileSync(HOST_CONFIG, 'utf8'));
  fs.mkdirSync(opts.out, { recursive: true });
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 520, height: 900 }, deviceScaleFactor: 1 });
    const pageProblems = [];
    page.on('console', (m) => {
      if (m.type() === 'warning' || m.type() === 'error') pageProblems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => pageProblems.push(`pageerror: ${e}`));
    await page.setContent('<!doctype html><html><head><meta charset="utf-8"></head><body><div id="frame"></div></body></html>');
    await page.addStyleTag({ path: RENDERER_CSS });
    await page.addStyleTag({ path: THEME_CSS });
    await page.addScriptTag({ path: RENDERER });
    await page.evaluate(installMarkdown);
    for (const [name, json] of Object.entries(cards)) {
      pageProblems.length = 0;
      const result = await page.evaluate(renderCard, { name, json, hostConfig });
      const shots = [];
      const message = page.locator('#frame .message');
      const shot = path.join(opts.out, `${name}.png`);
      await message.screenshot({ path: shot });
      shots.push(shot);
      for (const title of result.showCards) {
        await message.getByRole('button', { name: title, exact: true }).click();
        await page.mouse.move(0, 0); // no hover style in the screenshot
        await page.waitForTimeout(50);
        const expanded = path.join(opts.out, `${name}--${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.png`);
        await message.screenshot({ path: expanded });
        shots.push(expanded);
      }
      // Every action of the card (and of its ShowCards, rendered once expanded) must be on a
      // button: the renderer drops actions past the host's maxActions without a word.
      const buttons = await message.locator('button.ac-pushButton').evaluateAll((bs) => bs.map((b) => b.textContent.trim()));
      for (const title of result.wanted) {
        if (!buttons.includes(title)) {
          result.problems.push({ phase: 'Render', event: 'ActionNotRendered', message: `no button "${title}"` });
        }
      }
      result.buttons = buttons;
      for (const p of pageProblems) result.problems.push({ phase: 'Page', event: 'Console', message: p });
      emit({ event: 'card', name, problems: result.problems, buttons: result.buttons, shots });
    }
    emit({ event: 'finished', count: Object.keys(cards).length });
  } catch (error) {
    emit({ event: 'failed', message: String(error && error.stack ? error.stack : error) });
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
})();
