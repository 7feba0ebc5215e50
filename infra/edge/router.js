import cf from 'cloudfront';

// Switchboard's viewer-request router (CloudFront Functions, JavaScript runtime 2.0).
// Picks the regional origin for every request: the region named in x-switchboard-region-preference
// if it is deployed and healthy, else the nearest healthy region for the viewer's country, else the
// default region. Region health lives in the distribution's KeyValueStore (key = region, value =
// "healthy" | "unhealthy" (set by an operator; the prober never changes it) | "probe-unhealthy"
// (set and cleared by the health prober) | "force-healthy" (an operator overrides the prober)), so a
// region is evacuated without a deploy. A path prefix
// /regions/<region>/ pins a region explicitly (health is not consulted) and is stripped.
// Origin groups cannot fail over POST, so this function is the routing; an in-flight request that
// fails is retried by the client (the OpenAI and Anthropic SDKs retry 5xx and connection errors).

const CONFIG = __SWITCHBOARD_CONFIG__;
const store = cf.kvs();

// Nearest regions per continent, nearest first (only deployed regions are ever used).
const NEAR = {
    NA: ['us-east-1', 'us-east-2', 'us-west-2', 'us-west-1', 'ca-central-1', 'eu-west-1'],
    SA: ['sa-east-1', 'us-east-1', 'us-east-2', 'us-west-2'],
    EU: ['eu-west-1', 'eu-central-1', 'eu-west-2', 'eu-west-3', 'eu-north-1', 'eu-south-1', 'us-east-1'],
    AF: ['af-south-1', 'eu-west-1', 'eu-central-1', 'eu-south-1'],
    ME: ['me-south-1', 'eu-central-1', 'ap-south-1', 'eu-west-1'],
    // Asia before America: Sydney is nearer Singapore, Tokyo and Mumbai than any US region
    AS: ['ap-northeast-1', 'ap-southeast-1', 'ap-northeast-2', 'ap-south-1', 'ap-east-1', 'ap-northeast-3', 'ap-southeast-2', 'us-west-2'],
    OC: ['ap-southeast-2', 'ap-southeast-1', 'us-west-2'],
};

const CONTINENT = {};
function assign(continent, countries) {
    for (const code of countries.split(' ')) {
        CONTINENT[code] = continent;
    }
}
assign('NA', 'US CA MX GT BZ SV HN NI CR PA CU DO HT JM PR BS BB TT AG DM GD KN LC VC BM GL');
assign('SA', 'BR AR CL CO PE VE EC BO PY UY GY SR GF FK');
assign('EU', 'GB IE FR DE NL BE LU CH AT IT ES PT DK NO SE FI IS PL CZ SK HU SI HR BA RS ME MK AL GR BG RO MD UA BY LT LV EE MT CY LI MC SM VA AD GI IM JE GG FO AX XK RU');
assign('AF', 'ZA NG KE EG MA DZ TN LY GH CI SN CM ET TZ UG RW AO MZ ZM ZW BW NA MW MG MU SC SD SS SO DJ ER ML NE BF TD CF CG CD GA GQ GN GW SL LR TG BJ MR CV ST KM LS SZ RE YT');
assign('ME', 'AE SA QA KW BH OM YE IQ IR IL PS JO LB SY TR');
assign('AS', 'JP KR KP CN HK MO TW SG MY ID TH VN PH KH LA MM BN TL IN PK BD LK NP BT MV AF KZ UZ TM KG TJ MN AM AZ GE');
assign('OC', 'AU NZ FJ PG SB VU NC PF WS TO KI TV NR FM MH PW');

function header(request, name) {
    const entry = request.headers[name];
    return entry ? entry.value : undefined;
}

async function healthy(region) {
    try {
        const value = await store.get(region);
        return value !== 'unhealthy' && value !== 'probe-unhealthy';
    } catch (e) {
        return true; // no entry for the region: not evacuated
    }
}

function candidates(preference, country) {
    const order = [];
    const add = (region) => {
        if (CONFIG.regions.includes(region) && !order.includes(region)) {
            order.push(region);
        }
    };
    if (preference) {
        add(preference);
    }
    const continent = country ? CONTINENT[country.toUpperCase()] : undefined;
    if (continent) {
        NEAR[continent].forEach(add);
    }
    add(CONFIG.defaultRegion);
    CONFIG.regions.forEach(add);
    return order;
}

async function handler(event) {
    const request = event.request;
    const pinned = /^\/regions\/([a-z0-9-]+)(\/.*)$/.exec(request.uri);
    if (pinned && CONFIG.regions.includes(pinned[1])) {
        request.uri = pinned[2];
        cf.selectRequestOriginById(pinned[1]);
        request.headers['x-switchboard-edge-route'] = { value: pinned[1] + ';pinned' };
        return request;
    }
    const order = candidates(header(request, 'x-switchboard-region-preference'), header(request, 'cloudfront-viewer-country'));
    for (const region of order) {
        if (await healthy(region)) {
            cf.selectRequestOriginById(region);
            request.headers['x-switchboard-edge-route'] = { value: region };
            return request;
        }
    }
    // every region is marked unhealthy: serve from the default rather than fail
    cf.selectRequestOriginById(CONFIG.defaultRegion);
    request.headers['x-switchboard-edge-route'] = { value: CONFIG.defaultRegion + ';all-unhealthy' };
    return request;
}
