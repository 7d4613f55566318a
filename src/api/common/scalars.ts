/** Custom scalars: JSON objects for free-form metrics and dataset rows. */
export { GraphQLJSONObject as JSONObject } from 'graphql-scalars';
