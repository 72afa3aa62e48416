// The libdib explorer: sign in, pick a view, see GET /series as a chart, a table and a CSV download.
//
// Everything goes through the public API with the visitor's bearer token. The tokens live in sessionStorage
// (this tab only, never a cookie or the URL). The view lives in the page's query string, spelled exactly as
// the /series query, so a link shares the view and the page shows the API request behind it.

const SESSION_KEY = "libdib.session";
const PARAMS = ["races", "sex", "age_range", "population", "measure", "dollars", "units", "base_year",
  "compare", "from", "to", "editions"];
const DEFAULTS = { measure: "median_income", dollars: "constant", units: "level", editions: "first" };
// A first visit with no view in its link starts here: a question the data answers well.
const STARTER = { sex: "female", age_range: "25-34" };
// When an error names several parameters, the first of these is the control to fix.
const BLAME_ORDER = ["base_year", "editions", "edition", "compare", "dollars", "measure", "units", "age_range", "sex",
  "population", "races", "race", "from", "to"];
const CONTROL_OF = { race: "races", population: "races", edition: "editions" };
const LABEL = { races: "Race groups", sex: "Sex", age_range: "Age bracket", measure: "Measure",
  dollars: "Dollars", units: "Units", base_year: "Base year", compare: "Compare two groups", from: "From",
  to: "To", editions: "Years listed twice" };
const SEX_WORD = { female: "women", male: "men" };
const MARK = "\u2020"; // the dagger that marks a year listed twice

const WIDE = window.matchMedia("(min-width: 56rem)"); // the stylesheet's two-column breakpoint

const $ = (id) => document.getElementById(id);

class SessionEnded extends Error {}
class Unreachable extends Error {}

// ---------------------------------------------------------------------------------------------- session

let session = readSession();
let refreshing = null;

function readSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

function keepSession(pair, username) {
  const now = Date.now();
  session = {
    username,
    access: pair.access_token,
    refresh: pair.refresh_token,
    // Renew a little early so a request never leaves with a token about to lapse in transit.
    renewAt: now + pair.expires_in * 1000 - Math.min(2000, pair.expires_in * 500),
  };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

function forgetSession() {
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
}

// A refresh token is spent when presented (presenting it twice ends the session), so concurrent requests
// share one refresh.
function refreshTokens() {
  if (!refreshing) {
    const spent = session;
    refreshing = (async () => {
      const response = await fetch("/auth/refresh", {
        method: "POST",
        headers: { Authorization: `Bearer ${spent.refresh}`, Accept: "application/json" },
      });
      if (response.status === 401) {
        forgetSession();
        throw new SessionEnded("refresh refused");
      }
      // Anything else (busy, throttled, down) says nothing about the session: keep it and let the visitor retry.
      if (!response.ok) throw new Unreachable(`the session could not be renewed (the server answered ${response.status})`);
      keepSession(await response.json(), spent.username);
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function authorized(url, accept, method = "GET") {
  if (!session) throw new SessionEnded("signed out");
  if (Date.now() >= session.renewAt) await refreshTokens();
  const send = () => fetch(url, { method, headers: { Authorization: `Bearer ${session.access}`, Accept: accept } });
  const used = session.access;
  let response = await send();
  if (response.status === 401) {
    // Another request may have renewed the tokens meanwhile; renew only if nobody did.
    if (session && session.access === used) await refreshTokens();
    if (!session) throw new SessionEnded("session ended");
    response = await send();
    if (response.status === 401) {
      forgetSession();
      throw new SessionEnded("session ended");
    }
  }
  return response;
}

async function problemOf(response) {
  try {
    const body = await response.json();
    return { detail: body.detail || body.title || "", errors: Array.isArray(body.errors) ? body.errors : [] };
  } catch {
    return { detail: "", errors: [] };
  }
}

// The API's own words, kept as they are (they may begin with a parameter's name), ended as a sentence.
function sentence(text, fallback) {
  const words = (text || fallback).trim();
  return /[.!?]$/.test(words) ? words : `${words}.`;
}

// ---------------------------------------------------------------------------------------------- signing in

let signingUp = false;

function askToSignIn(reason) {
  $("sign-in").hidden = false;
  $("account").hidden = true;
  $("sign-in-reason").textContent = reason;
  $("username").focus();
}

function setSignUp(on) {
  signingUp = on;
  $("sign-in-title").textContent = on ? "Create an account" : "Sign in";
  $("sign-in-submit").textContent = on ? "Create account and sign in" : "Sign in";
  $("sign-up-toggle").textContent = on ? "I have an account: sign in" : "New here? Create an account";
  $("password-hint").hidden = !on;
  $("password").autocomplete = on ? "new-password" : "current-password";
  clearFormErrors();
}

function clearFormErrors() {
  for (const id of ["username", "password"]) {
    $(`${id}-error`).textContent = "";
    $(id).removeAttribute("aria-invalid");
  }
}

function formError(id, text) {
  $(`${id}-error`).textContent = text;
  $(id).setAttribute("aria-invalid", "true");
  $(id).focus();
}

async function postJson(url, body) {
  return fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
}

async function signIn(event) {
  event.preventDefault();
  clearFormErrors();
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username) return formError("username", "Enter your username.");
  if (!password) return formError("password", "Enter your password.");
  $("sign-in-submit").disabled = true;
  try {
    if (!(await logIn(username, password))) return;
  } catch {
    return formError("password", "The server could not be reached; try again.");
  } finally {
    $("sign-in-submit").disabled = false;
  }
  $("password").value = "";
  $("sign-in").hidden = true;
  await start();
}

// Signs up first when asked to; true once the tab holds a session, else the form says what went wrong.
async function logIn(username, password) {
  if (signingUp) {
    const created = await postJson("/users", { username, password });
    if (!created.ok) {
      signUpFailed(created.status, await problemOf(created));
      return false;
    }
  }
  const response = await postJson("/auth/login", { username, password });
  if (!response.ok) {
    const { detail } = await problemOf(response);
    const fallback = response.status === 401 ? "wrong username or password" : `the server answered ${response.status}`;
    formError("password", sentence(detail, fallback));
    return false;
  }
  keepSession(await response.json(), username);
  return true;
}

function signUpFailed(status, { detail, errors }) {
  const about = errors.map((error) => error.key).join(" ") + " " + detail;
  if (status === 403) {
    $("sign-up-toggle").hidden = true;
    setSignUp(false);
    $("sign-in-reason").textContent = sentence(detail, "sign-up is closed; ask an administrator for an account");
    return;
  }
  const field = status !== 409 && /password/i.test(about) ? "password" : "username";
  formError(field, sentence(detail, `the server answered ${status}`));
}

async function signOut() {
  try {
    await authorized("/auth/logout", "application/json", "POST");
  } catch (error) {
    if (!(error instanceof SessionEnded)) console.error(error);
  }
  forgetSession();
  $("explorer").hidden = true;
  askToSignIn("You are signed out. Sign in to explore again.");
}

// ---------------------------------------------------------------------------------------------- view state

function readState() {
  const query = new URLSearchParams(location.search);
  const state = {};
  for (const name of PARAMS) {
    const value = (query.get(name) || "").trim();
    state[name] = value === DEFAULTS[name] ? "" : value;
  }
  return state;
}

function isEmpty(state) {
  return PARAMS.every((name) => !state[name]);
}

function queryOf(state) {
  // Commas stay readable: the races list is how the API spells it.
  return PARAMS.filter((name) => state[name])
    .map((name) => `${name}=${encodeURIComponent(state[name]).replaceAll("%2C", ",")}`)
    .join("&");
}

function stateFromControls() {
  const state = readState(); // keeps what has no control (population)
  // Races keep the order they were chosen in: a comparison is the first minus (or over) the second.
  const checked = [...document.querySelectorAll("#races input:checked")].map((box) => box.value);
  const before = state.races.split(",").filter((race) => checked.includes(race));
  state.races = [...before, ...checked.filter((race) => !before.includes(race))].join(",");
  state.sex = document.querySelector("input[name=sex]:checked")?.value || "";
  for (const name of ["age_range", "measure", "dollars", "units", "base_year", "compare", "from", "to", "editions"]) {
    state[name] = $(name).value;
  }
  return state;
}

function showState(state) {
  const chosen = new Set(state.races.split(",").filter(Boolean));
  for (const race of chosen) {
    if (!document.querySelector(`#races input[value="${CSS.escape(race)}"]`)) addRaceChoice(race, null);
  }
  for (const box of document.querySelectorAll("#races input")) box.checked = chosen.has(box.value);
  for (const radio of document.querySelectorAll("input[name=sex]")) radio.checked = radio.value === state.sex;
  for (const name of ["age_range", "measure", "dollars", "units", "base_year", "compare", "from", "to", "editions"]) {
    const select = $(name);
    if (state[name] && ![...select.options].some((option) => option.value === state[name])) {
      select.append(new Option(state[name], state[name])); // a shared link's value the data may not have
    }
    select.value = state[name];
  }
}

// ---------------------------------------------------------------------------------------------- controls

let dimensions = null;

function raceName(race) {
  return race === "all" ? "All races" : race.charAt(0).toUpperCase() + race.slice(1);
}

function addRaceChoice(race, info) {
  const label = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.name = "races";
  box.value = race;
  const span = document.createElement("span");
  span.textContent = info ? `${raceName(race)} ` : `${race} `;
  const years = document.createElement("small");
  years.textContent = info ? `${info.years[0]}\u2013${info.years[1]}` : "no data loaded";
  label.append(box, span, years);
  if (info?.title) label.title = info.title;
  $("races").append(label);
}

function yearOption(year, twice) {
  return new Option(twice.has(year) ? `${year} ${MARK} listed twice` : String(year), String(year));
}

function buildControls() {
  $("races").replaceChildren();
  for (const info of dimensions.races) addRaceChoice(info.race, info);
  const ages = $("age_range");
  ages.replaceChildren(ages.options[0]);
  for (const bracket of dimensions.age_ranges) ages.append(new Option(bracket, bracket));

  const firsts = dimensions.races.map((race) => race.years[0]);
  const lasts = dimensions.races.map((race) => race.years[1]);
  const twice = new Set(dimensions.races.flatMap((race) => race.listed_twice || []));
  const years = [];
  for (let year = Math.min(...firsts); year <= Math.max(...lasts); year += 1) years.push(year);
  for (const name of ["base_year", "from", "to"]) {
    const select = $(name);
    select.replaceChildren(select.options[0], ...years.map((year) => yearOption(year, twice)));
  }
  const dollars = $("dollars");
  const group = document.createElement("optgroup");
  group.label = "A year's dollars";
  group.append(...[...years].reverse().map((year) => new Option(`${year} dollars`, String(year))));
  dollars.replaceChildren(dollars.options[0], dollars.options[1], group);
}

function starterState() {
  const races = dimensions.races.map((race) => race.race);
  const preferred = ["asian", "white"].filter((race) => races.includes(race));
  const chosen = preferred.length === 2 ? preferred : races.slice(0, 2);
  return { ...readState(), ...STARTER, races: chosen.join(",") };
}

// ---------------------------------------------------------------------------------------------- showing a view

let viewNumber = 0;
let chartUrl = null;

function clearErrors() {
  for (const element of document.querySelectorAll("#controls .error")) element.textContent = "";
  for (const element of document.querySelectorAll("#controls [aria-invalid]")) element.removeAttribute("aria-invalid");
  $("view-error").hidden = true;
  $("view-error").textContent = "";
}

function blame(status, { detail, errors }) {
  if (status === 404) return "races";
  const named = errors.map((error) => String(error.key || "")).find((key) => PARAMS.includes(key) || key === "race");
  if (named) return CONTROL_OF[named] || named;
  // "from" and "to" are everyday words: they count only when written as parameters.
  const mentions = (name) => (["from", "to"].includes(name)
    ? new RegExp(`\\b${name}\\s*[=:]|\`${name}\``)
    : new RegExp(`\\b${name.replace("_", "[_ ]")}\\b`, "i")).test(detail);
  const found = BLAME_ORDER.find(mentions);
  return found ? CONTROL_OF[found] || found : null;
}

function showError(status, problem) {
  const text = sentence(problem.detail, `the API answered ${status}`);
  const field = blame(status, problem);
  if (field && $(`${field}-error`)) {
    $(`${field}-error`).textContent = text;
    const control = $(field) || $(`${field}-field`);
    control.setAttribute("aria-invalid", "true");
  }
  const where = field && LABEL[field] ? ` Change \u201c${LABEL[field]}\u201d to go on.` : "";
  showNoChart(`No chart for this choice: ${text}${where}`);
}

function showNoChart(text) {
  $("view-error").textContent = text;
  $("view-error").hidden = false;
  $("chart").hidden = true;
  $("chart-caption").textContent = "";
  $("numbers").tHead.replaceChildren();
  $("numbers").tBodies[0].replaceChildren();
  $("table-caption").textContent = "";
  $("listed-twice").hidden = true;
  $("table-wrap").hidden = true;
  $("csv").disabled = true;
  $("status").textContent = "";
}

function describe(state, unit) {
  const races = state.races.split(",").filter(Boolean).map(raceName);
  const who = state.compare && races.length === 2
    ? `${races[0]} ${state.compare === "ratio" ? "\u00f7" : "minus"} ${races[1]}`
    : races.join(", ");
  const sex = SEX_WORD[state.sex] || "women and men";
  const age = state.age_range ? `aged ${state.age_range}` : "of every age bracket";
  const measure = state.measure === "number_with_income" ? "number with income" : "median income";
  return `${who}: ${measure} of ${sex} ${age}, in ${unit}`;
}

function summaryOf(state) {
  const dollars = /^\d+$/.test(state.dollars) ? `${state.dollars} dollars` : state.dollars;
  const parts = [state.races.split(",").filter(Boolean).map(raceName).join(", "), SEX_WORD[state.sex],
    state.age_range, state.compare, dollars, state.units.replaceAll("_", " "),
    state.base_year && `base ${state.base_year}`];
  return parts.filter(Boolean).join(" \u00b7 ");
}

async function showView() {
  const state = readState();
  const query = queryOf(state);
  const number = ++viewNumber;
  clearErrors();
  $("api-url").textContent = `${location.origin}/series?${query}`;
  $("summary").textContent = summaryOf(state);
  document.title = `${summaryOf(state)}: libdib explorer`;
  if (!state.races) {
    $("races-error").textContent = "Choose at least one race group.";
    showNoChart("No chart yet: choose at least one race group.");
    $("results").setAttribute("aria-busy", "false");
    return;
  }
  $("status").textContent = "Loading\u2026";
  $("results").setAttribute("aria-busy", "true");
  try {
    const [answer, chart] = await Promise.all([
      authorized(`/series?${query}`, "application/json"),
      authorized(`/series?${query}&format=svg`, "image/svg+xml"),
    ]);
    if (number !== viewNumber) return; // a later choice is on its way
    if (!answer.ok) return showError(answer.status, await problemOf(answer));
    const data = await answer.json();
    const picture = chart.ok ? await chart.blob() : null;
    if (number !== viewNumber) return;
    showData(state, data, picture);
  } catch (error) {
    if (number !== viewNumber) return;
    if (error instanceof SessionEnded) return sessionExpired();
    const why = error instanceof Unreachable ? error.message : "the server could not be reached";
    showNoChart(`No chart: ${why}. Change any control to try again.`);
  } finally {
    if (number === viewNumber) $("results").setAttribute("aria-busy", "false");
  }
}

function sessionExpired() {
  showNoChart("Your session has expired: sign in again above, and this view comes back.");
  askToSignIn("Your session has expired. Sign in again to see this view.");
}

function showData(state, data, picture) {
  const title = describe(state, data.unit);
  $("view-title").textContent = title;
  $("view-error").hidden = true;
  const twice = [...new Set(data.series.flatMap((series) => series.points)
    .filter((point) => point.edition !== null && point.edition !== undefined).map((point) => point.year))]
    .sort((a, b) => a - b);
  showListedTwice(twice, state.editions === "all");
  showTable(title, data, twice, state.editions === "all");
  $("table-wrap").hidden = false;
  $("csv").disabled = false;

  if (chartUrl) URL.revokeObjectURL(chartUrl);
  chartUrl = picture ? URL.createObjectURL(picture) : null;
  const img = $("chart");
  img.hidden = !picture;
  if (picture) {
    img.src = chartUrl;
    img.alt = `Line chart: ${title}. The table below gives every number in it.`;
  }
  const mark = twice.length ? ` Years marked ${MARK} are listed twice; see the note above the table.` : "";
  $("chart-caption").textContent = picture
    ? `${title}.${mark}`
    : `The chart could not be drawn; the numbers are in the table below.${mark}`;
  const points = data.series.reduce((sum, series) => sum + series.points.length, 0);
  $("status").textContent = `${data.series.length} series, ${points} values.`;
}

function showListedTwice(years, both) {
  const note = $("listed-twice");
  note.hidden = years.length === 0;
  if (!years.length) return;
  const list = years.length === 1 ? String(years[0]) : `${years.slice(0, -1).join(", ")} and ${years.at(-1)}`;
  const verb = years.length === 1 ? "is" : "are";
  note.textContent = both
    ? `${MARK} ${list} ${verb} listed twice in the Census table, as two estimates of the same year made in`
      + " different ways: both are shown, the first-listed (1st) continuing the series toward later years and"
      + " the second-listed (2nd) toward earlier years."
    : `${MARK} ${list} ${verb} listed twice in the Census table, as two estimates of the same year made in`
      + " different ways: this view shows the first-listed estimate, which continues the series toward later"
      + " years, and a change into such a year is taken from the second-listed one, so the break never counts"
      + " as change.";
}

function seriesLabel(series, varies) {
  const races = series.compare
    ? `${raceName(series.races[0])} ${series.compare === "ratio" ? "\u00f7" : "\u2212"} ${raceName(series.races[1])}`
    : series.races.map(raceName).join(", ");
  const parts = [races];
  if (varies.sex) parts.push(SEX_WORD[series.sex] || series.sex);
  if (varies.age) parts.push(series.age_range);
  return parts.join(", ");
}

function showTable(title, data, twice, editionsShown) {
  const varies = {
    sex: new Set(data.series.map((series) => series.sex)).size > 1,
    age: new Set(data.series.map((series) => series.age_range)).size > 1,
  };
  const rows = new Map();
  data.series.forEach((series, column) => {
    for (const point of series.points) {
      const key = `${point.year}:${point.edition ?? 0}`;
      if (!rows.has(key)) rows.set(key, { year: point.year, edition: point.edition ?? 0, values: [] });
      rows.get(key).values[column] = point.value;
    }
  });
  const ordered = [...rows.values()].sort((a, b) => a.year - b.year || a.edition - b.edition);

  $("table-caption").textContent = `${title}, by year`;
  const head = document.createElement("tr");
  head.append(cell("th", "Year", "col"));
  for (const series of data.series) head.append(cell("th", seriesLabel(series, varies), "col"));
  $("numbers").tHead.replaceChildren(head);

  const body = ordered.map((row) => {
    const line = document.createElement("tr");
    line.dataset.year = row.year;
    line.dataset.edition = row.edition || "";
    const edition = row.edition && editionsShown ? ` (${row.edition === 1 ? "1st" : "2nd"})` : "";
    const year = cell("th", `${row.year}${edition}`, "row");
    if (twice.includes(row.year)) {
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = ` ${MARK}`;
      mark.title = "Listed twice in the Census table: see the note above the table";
      year.append(mark);
      line.className = "twice";
    }
    line.append(year);
    data.series.forEach((_, column) => {
      const value = row.values[column];
      const td = cell("td", value === null || value === undefined ? "\u2013" : number(value));
      td.dataset.value = value ?? "";
      line.append(td);
    });
    return line;
  });
  $("numbers").tBodies[0].replaceChildren(...body);
}

function cell(kind, text, scope) {
  const element = document.createElement(kind);
  element.textContent = text;
  if (scope) element.scope = scope;
  return element;
}

function number(value) {
  return value.toLocaleString("en-US", { maximumFractionDigits: 4 }).replace(/^-/, "\u2212");
}

// ---------------------------------------------------------------------------------------------- CSV

async function downloadCsv() {
  const query = queryOf(readState());
  $("csv-error").textContent = "";
  try {
    const response = await authorized(`/series?${query}&format=csv`, "text/csv");
    if (!response.ok) {
      const { detail } = await problemOf(response);
      $("csv-error").textContent = sentence(detail, `the API answered ${response.status}`);
      return;
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = "libdib-series.csv";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    if (error instanceof SessionEnded) return sessionExpired();
    $("csv-error").textContent = error instanceof Unreachable ? sentence(error.message) : "The server could not be reached.";
  }
}

// ---------------------------------------------------------------------------------------------- start

async function start() {
  $("results").setAttribute("aria-busy", "true");
  $("account").hidden = false;
  $("who").textContent = `Signed in as ${session.username}`;
  try {
    if (!dimensions) {
      const response = await authorized("/dimensions", "application/json");
      if (!response.ok) {
        const { detail } = await problemOf(response);
        throw new Error(`GET /dimensions answered ${response.status}: ${detail}`);
      }
      dimensions = await response.json();
      buildControls();
    }
  } catch (error) {
    if (error instanceof SessionEnded) return sessionExpired();
    $("explorer").hidden = false;
    return showNoChart(sentence(String(error.message), "the data could not be listed"));
  }
  $("explorer").hidden = false;
  if (!dimensions.races.length) {
    return showNoChart("No data is loaded yet: an administrator loads the Census workbooks with `libdib load`.");
  }
  if (isEmpty(readState())) history.replaceState(null, "", `?${queryOf(starterState())}`);
  showState(readState());
  await showView();
}

function choose() {
  const query = queryOf(stateFromControls());
  if (query !== location.search.slice(1)) history.pushState(null, "", `?${query}`);
  showView();
}

// Every control gets a place for the sentence that says what is wrong with it, announced and tied to it.
function addErrorSlots() {
  for (const name of ["username", "password", ...Object.keys(LABEL)]) {
    const control = $(name) || $(`${name}-field`);
    const slot = document.createElement("p");
    slot.id = `${name}-error`;
    slot.className = "error";
    slot.setAttribute("aria-live", "polite");
    control.closest(".field, fieldset").append(slot);
    const described = control.getAttribute("aria-describedby");
    control.setAttribute("aria-describedby", described ? `${described} ${slot.id}` : slot.id);
  }
}

function init() {
  addErrorSlots();
  // On a phone the chart comes first; the controls fold under one line saying what is shown.
  $("controls-box").open = WIDE.matches;
  WIDE.addEventListener("change", (event) => {
    if (event.matches) $("controls-box").open = true;
  });
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-up-toggle").hidden = document.body.dataset.signup !== "open";
  $("sign-up-toggle").addEventListener("click", () => setSignUp(!signingUp));
  $("sign-out").addEventListener("click", signOut);
  $("controls").addEventListener("change", choose);
  $("csv").addEventListener("click", downloadCsv);
  window.addEventListener("popstate", () => {
    if (!dimensions) return;
    showState(readState());
    showView();
  });
  if (session) {
    start();
  } else {
    askToSignIn(location.search ? "Sign in to see the view this link shares." : "Sign in to explore the data.");
  }
}

init();
