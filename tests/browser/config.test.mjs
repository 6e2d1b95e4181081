// Editing a train's configuration in the web UI: name, description (cleared to null),
// invert directions, client-side validation messages, and server errors shown in words.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useWorld, waitFor, waitText, textOf, markPage, assertNotReloaded } from './support.mjs';

const w = useWorld('config', { edges: 1 }, { before, after });

const tid = (id) => `[data-testid="${id}"]`;

async function train() { return (await w.api('GET', '/api/trains/train-1')).body; }

describe('train configuration', () => {
  it('saves name, description and invert directions', w.guard(async () => {
    const { page } = w;
    await w.goto('#/trains/train-1');
    await markPage(page);
    const before0 = await train();
    assert.equal(await page.getByTestId('cfg-name').inputValue(), before0.name);
    assert.equal(await page.getByTestId('cfg-description').inputValue(), before0.description || '');

    await page.getByTestId('cfg-name').fill('  Express  ');
    await page.getByTestId('cfg-description').fill('Blue coaches, Märklin BR 01');
    await page.getByTestId('cfg-invert').check();
    await page.getByTestId('cfg-save').click();
    await waitText(page, tid('cfg-result'), (t) => t.startsWith('Saved'));
    await waitText(page, tid('train-name'), (t) => t === 'Express');
    assert.equal(await textOf(page, tid('train-description')), 'Blue coaches, Märklin BR 01');

    const t = await train();
    assert.equal(t.name, 'Express', 'the name is sent trimmed');
    assert.equal(t.description, 'Blue coaches, Märklin BR 01');
    assert.equal(t.invert_directions, true);
    // The controller gets the change (invert_directions is part of its runtime config).
    await waitFor(async () => {
      const h = await w.trainOnEdge(w.edges[0], 'train-1');
      return h && h.invert_directions === true;
    }, { what: 'the edge to apply invert_directions', timeout: 20000 });
    await assertNotReloaded(page);
  }));

  it('clears the description (sent as null)', w.guard(async () => {
    const { page } = w;
    await page.getByTestId('cfg-clear-description').click();
    assert.equal(await page.getByTestId('cfg-description').inputValue(), '');
    await page.getByTestId('cfg-save').click();
    await waitText(page, tid('cfg-result'), (t) => t.startsWith('Saved'));
    const t = await train();
    assert.equal(t.description, null);
    assert.equal(t.name, 'Express');
    assert.equal(t.invert_directions, true);
    // The page renders the saved train on its next frame.
    await waitText(page, tid('train-description'), (d) => d === '');
    // Saving again without a change says so instead of sending anything.
    await page.getByTestId('cfg-save').click();
    await waitText(page, tid('cfg-result'), (s) => s === 'No changes to save.');
  }));

  it('validates name and description lengths before sending', w.guard(async () => {
    const { page } = w;
    const sent = [];
    page.on('request', (r) => { if (r.method() === 'PUT') sent.push(r.url()); });

    await page.getByTestId('cfg-name').fill('   ');
    await waitText(page, tid('cfg-name-error'), (t) => t === 'A name is required.');
    assert.equal(await page.getByTestId('cfg-name').getAttribute('aria-invalid'), 'true');
    await page.getByTestId('cfg-save').click();
    await waitText(page, tid('cfg-result'), (t) => t === 'Fix the marked fields first.');

    await page.getByTestId('cfg-name').fill('x'.repeat(101));
    await waitText(page, tid('cfg-name-error'), (t) => /101 characters long; at most 100/.test(t));
    assert.equal(await textOf(page, tid('cfg-name-count')), '101/100');
    // 100 characters are fine, counted as characters, not bytes.
    await page.getByTestId('cfg-name').fill('é'.repeat(100));
    await waitText(page, tid('cfg-name-error'), (t) => t === '');

    await page.getByTestId('cfg-description').fill('d'.repeat(501));
    await waitText(page, tid('cfg-description-error'), (t) => /501 characters long; at most 500/.test(t));
    await page.getByTestId('cfg-save').click();
    await waitText(page, tid('cfg-result'), (t) => t === 'Fix the marked fields first.');
    assert.deepEqual(sent, [], 'nothing was sent while the form was invalid');
    assert.equal((await train()).name, 'Express');

    await page.getByTestId('cfg-description').fill('d'.repeat(500));
    await page.getByTestId('cfg-save').click();
    await waitText(page, tid('cfg-result'), (t) => t.startsWith('Saved'));
    const t = await train();
    assert.equal(t.name, 'é'.repeat(100));
    assert.equal(t.description, 'd'.repeat(500));
    assert.equal(sent.length, 1);
  }));

  it('shows the server\'s error detail at the field and in the message area', w.guard(async () => {
    const { page } = w;
    // A refusal the client cannot foresee, as the API words it.
    await page.route('**/api/trains/train-1', (route) => {
      if (route.request().method() !== 'PUT') return route.continue();
      return route.fulfill({
        status: 422, contentType: 'application/json',
        body: JSON.stringify({ detail: "'name' is reserved on this layout", error: 'invalid_field', field: 'name' }),
      });
    });
    await page.getByTestId('cfg-name').fill('Reserved');
    await page.getByTestId('cfg-save').click();
    await waitText(page, tid('cfg-name-error'), (t) => t === "'name' is reserved on this layout");
    const msg = await waitText(page, tid('error-message'), (t) => t.length > 0);
    assert.match(msg, /Could not save .*: 'name' is reserved on this layout/);
    assert.match(await textOf(page, tid('cfg-result')), /^Not saved: /);
    await page.unroute('**/api/trains/train-1');
    // The operator's input is still there to correct.
    assert.equal(await page.getByTestId('cfg-name').inputValue(), 'Reserved');
    // Undo returns to the saved values.
    await page.getByTestId('cfg-reset').click();
    assert.equal(await page.getByTestId('cfg-name').inputValue(), 'é'.repeat(100));
  }));

  it('updates the form live when someone else edits the train, unless it is being edited', w.guard(async () => {
    const { page } = w;
    let r = await w.api('PUT', '/api/trains/train-1', { name: 'Night Mail', description: null });
    assert.equal(r.status, 200);
    await waitFor(async () => (await page.getByTestId('cfg-name').inputValue()) === 'Night Mail',
                  { what: 'the form to show the new name' });
    assert.equal(await page.getByTestId('cfg-description').inputValue(), '');
    // Now the operator types; a concurrent change does not overwrite the edit.
    await page.getByTestId('cfg-description').fill('typing…');
    r = await w.api('PUT', '/api/trains/train-1', { name: 'Flying Scotsman' });
    assert.equal(r.status, 200);
    await waitText(page, tid('train-name'), (t) => t === 'Flying Scotsman');
    assert.equal(await page.getByTestId('cfg-description').inputValue(), 'typing…');
    assert.equal(await page.getByTestId('cfg-name').inputValue(), 'Night Mail');
  }));

  it('sets the throttle address, and says so when another train has it', w.guard(async () => {
    const { page } = w;
    await w.goto('#/trains/train-1');
    const other = await w.api('POST', '/api/trains', { train_id: 't-addr', name: 'Other', address: 77,
                                                        controller_uuid: w.controllerIds[0] });
    assert.equal(other.status, 201, JSON.stringify(other.body));
    await page.getByTestId('cfg-address').fill('42');
    await page.getByTestId('cfg-save').click();
    await waitText(page, tid('cfg-result'), (t) => t.startsWith('Saved'));
    assert.equal((await train()).address, 42);
    await page.getByTestId('cfg-address').fill('77');
    await page.getByTestId('cfg-save').click();
    await waitText(page, tid('cfg-result'), (t) => /^Not saved: .*77/.test(t));
    assert.equal((await train()).address, 42, 'nothing changed');
    await w.goto('#/');
    await waitText(page, '[data-testid="train-card"][data-train-id="train-1"] [data-field="address"]', (t) => t === '#42');
  }));

  it('edits the driving settings, which reach the edge', w.guard(async () => {
    const { page } = w;
    await w.goto('#/trains/train-1');
    await page.getByTestId('cfg-accel').fill('0');
    await page.getByTestId('cfg-min-speed').fill('20');
    await page.getByTestId('cfg-max-speed').fill('80');
    await page.getByTestId('cfg-resume').check();
    await page.getByTestId('cfg-save').click();
    await waitText(page, tid('cfg-result'), (t) => t.startsWith('Saved'));
    assert.deepEqual((await train()).driving,
                     { acceleration_s: 0, min_speed: 20, max_speed: 80, start_resumes: true });
    // The edge drives with them: speed 25 is 35 % at the motor.
    const r = await w.api('POST', '/api/trains/train-1/command', { action: 'setSpeed', speed: 25 });
    assert.equal(r.status, 202);
    await waitFor(async () => { const h = await w.trainOnEdge(w.edges[0], 'train-1'); return h && h.motor && h.motor.speed === 35; },
                  { what: 'the motor at 35 %', timeout: 20000 });
    // A top speed below the starting speed is refused, naming the field.
    await page.getByTestId('cfg-max-speed').fill('10');
    await page.getByTestId('cfg-save').click();
    await waitText(page, tid('cfg-result'), (t) => /^Not saved: .*min_speed/.test(t));
  }));
});

describe('train photo', () => {
  // A 1x1 PNG (red), small enough to go as it is.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC', 'base64');
  const photo = async () => w.api('GET', '/api/trains/train-1/photo');

  it('uploads a small PNG as it is and shows it on the page and the card', w.guard(async () => {
    const { page } = w;
    await w.goto('#/trains/train-1');
    assert.equal(await page.getByTestId('train-photo').isVisible(), false);
    await page.getByTestId('photo-file').setInputFiles({ name: 'loco.png', mimeType: 'image/png', buffer: png });
    await waitText(page, tid('photo-result'), (t) => t.startsWith('Photo saved'));
    await waitFor(async () => page.getByTestId('train-photo').evaluate((img) => img.complete && img.naturalWidth === 1),
                  { what: 'the photo to load on the train page' });
    const t = await train();
    assert.match(t.photo_url, /^\/api\/trains\/train-1\/photo\?v=\d+$/);
    await w.goto('#/');
    const card = page.locator('[data-testid="train-card"][data-train-id="train-1"] [data-field="photo"]');
    await waitFor(async () => card.evaluate((img) => !img.hidden && img.complete && img.naturalWidth === 1),
                  { what: 'the photo on the dashboard card' });
  }));

  it('scales a large picture down to a JPEG under the limit', w.guard(async () => {
    const { page } = w;
    await w.goto('#/trains/train-1');
    // A 2400x1600 PNG of noise (several MB): made in the page, handed to the file input.
    const b64 = await page.evaluate(async () => {
      const c = document.createElement('canvas');
      c.width = 2400; c.height = 1600;
      const ctx = c.getContext('2d');
      const img = ctx.createImageData(c.width, c.height);
      for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 2654435761 >>> 13) & 255;
      ctx.putImageData(img, 0, 0);
      const blob = await new Promise((ok) => c.toBlob(ok, 'image/png'));
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let s = '';
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(s);
    });
    const big = Buffer.from(b64, 'base64');
    assert.ok(big.length > 512 * 1024, `the test picture is ${big.length} bytes`);
    await page.getByTestId('photo-file').setInputFiles({ name: 'big.png', mimeType: 'image/png', buffer: big });
    await waitText(page, tid('photo-result'), (t) => t.startsWith('Photo saved'), { timeout: 20000 });
    const r = await photo();
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'image/jpeg');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    await waitFor(async () => page.getByTestId('train-photo').evaluate((img) => img.complete && img.naturalWidth === 1280),
                  { what: 'the scaled photo (1280 px wide) on the page' });
  }));

  it('refuses a file that is not a picture and keeps the old photo', w.guard(async () => {
    const { page } = w;
    const before0 = (await train()).photo_url;
    await page.getByTestId('photo-file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain',
                                                         buffer: Buffer.from('not a picture') });
    await waitText(page, tid('photo-result'), (t) => /^Not saved: .*PNG or JPEG/.test(t));
    assert.equal((await train()).photo_url, before0, 'nothing changed');
  }));

  it('removes the photo', w.guard(async () => {
    const { page } = w;
    await page.getByTestId('photo-remove').click();
    await waitText(page, tid('photo-result'), (t) => t === 'Photo removed.');
    assert.equal(await page.getByTestId('train-photo').isVisible(), false);
    assert.equal(await page.getByTestId('train-photo-none').isVisible(), true);
    assert.equal((await train()).photo_url, null);
    assert.equal((await photo()).status, 404);
  }));
});
